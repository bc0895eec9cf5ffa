"""DICOM reading, grouping keys: the ONE path that reads a patient or study identifier, and it returns only an HMAC.

:func:`cxrdet.io.dicom.read_meta` never reads identifying fields. Folds grouped by patient or study need to know
which images share one, and nothing more: :func:`hashed_group_key` reads ``PatientID`` or ``StudyInstanceUID``
from the header alone (no pixel data), and returns ``HMAC-SHA256(key, value)``; the value itself is never
returned, logged or put in a message. The caller chooses the key: ``cxrdet convert --group-by`` draws a fresh
random one per run and never stores it (see :func:`new_group_secret`), so the hashes cannot be brute-forced
from anything on disk, however short the identifiers.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets

from cxrdet.io.dicom_quiet import quiet_pydicom

log = logging.getLogger(__name__)

GROUP_FIELDS: dict[str, str] = {"patient": "PatientID", "study": "StudyInstanceUID"}
"""``--group-by`` choice -> the DICOM keyword whose value groups images."""
_DEFER = 1024  # values longer than this are not read (a header value of a grouping key is short)


def new_group_secret() -> bytes:
    """A fresh random 32-byte HMAC key (one per run; keep it in memory only)."""
    return secrets.token_bytes(32)


def hashed_group_key(path: str | os.PathLike, group_by: str, key: bytes) -> str | None:
    """``HMAC-SHA256(key, value)`` (hex) of the file's ``PatientID`` (``"patient"``) or ``StudyInstanceUID``
    (``"study"``), or None when the element is absent, empty or the header cannot be read.

    Args:
        path: a DICOM file (only its header is read).
        group_by: ``"patient"`` or ``"study"``.
        key: the HMAC key (at least 16 bytes).

    Raises:
        ValueError: an unknown ``group_by`` or a short key.
    """
    if group_by not in GROUP_FIELDS:
        raise ValueError(f"group_by must be one of {sorted(GROUP_FIELDS)}, got {group_by!r}")
    if len(key) < 16:
        raise ValueError("the grouping key needs at least 16 bytes")
    import pydicom

    keyword = GROUP_FIELDS[group_by]
    try:
        with quiet_pydicom():
            ds = pydicom.dcmread(os.fspath(path), stop_before_pixels=True, defer_size=_DEFER, specific_tags=[keyword])
            value = ds.get(keyword)
            text = "" if value is None else str(value).strip()
    except Exception:  # any unreadable header: no key (never the value in a message
        log.debug("%s: no %s grouping key (header unreadable)", path, group_by)
        return None
    if not text:
        return None
    return hmac.new(key, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()
