"""``cxrdet convert --pseudonymize``: image ids as salted hashes, the mapping kept in a file apart from the data.

Hospital file names are often medical record or accession numbers. With pseudonymisation every image id
(PNG names, ``meta.csv``, COCO/YOLO files, folds, logs, ``failures.csv``) is ``HMAC-SHA256(salt, file stem)``
cut to 32 hex digits. The random salt and the pseudonym -> original id table live only in the map file,
which must lie outside the output folder: without it the ids cannot be reversed, even for a short id space
such as 8-digit record numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from cxrdet.errors import InputError
from cxrdet.io.atomic import write_text

_FORMAT = "cxrdet-pseudonyms/1"


class Pseudonymizer:
    """Maps original image ids to pseudonyms with one secret salt (identity when ``salt`` is None)."""

    def __init__(self, salt: bytes | None = None):
        self.salt = salt
        self.originals: dict[str, str] = {}

    @property
    def enabled(self) -> bool:
        return self.salt is not None

    @property
    def key_id(self) -> str | None:
        """A public check value of the salt (its hash): says which map a folder belongs to, reveals nothing."""
        return hashlib.sha256(b"cxrdet-key-id:" + self.salt).hexdigest()[:16] if self.salt else None

    def __call__(self, image_id: str) -> str:
        """The pseudonym of ``image_id`` (``image_id`` itself when disabled)."""
        if self.salt is None:
            return image_id
        pseudonym = hmac.new(self.salt, str(image_id).encode("utf-8"), hashlib.sha256).hexdigest()[:32]
        self.originals[pseudonym] = str(image_id)
        return pseudonym

    @classmethod
    def load_or_create(cls, path: str | os.PathLike, out: str | os.PathLike) -> Pseudonymizer:
        """The map at ``path`` (its salt and known ids), or a new random salt if the file does not exist.

        Raises:
            InputError: ``path`` lies inside the output folder ``out``, or is not a cxrdet pseudonym map.
        """
        path, out = Path(path).resolve(), Path(out).resolve()
        if path == out or out in path.parents:
            raise InputError(path, "the pseudonym map must be kept outside the output folder (it reverses the ids)")
        if not path.exists():
            return cls(secrets.token_bytes(32))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != _FORMAT:
                raise ValueError
            pseudo = cls(bytes.fromhex(data["salt"]))
            pseudo.originals.update({str(k): str(v) for k, v in data["images"].items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise InputError(
                path, "not a cxrdet pseudonym map (unreadable or damaged); keep it or choose another --pseudonym-map"
            ) from None
        return pseudo

    def save(self, path: str | os.PathLike) -> None:
        """Write the salt and the pseudonym -> original id table (atomically, readable by the user only)."""
        data = {
            "format": _FORMAT,
            "salt": self.salt.hex(),
            "key_id": self.key_id,
            "images": dict(sorted(self.originals.items())),
        }
        write_text(path, json.dumps(data, indent=1))
        os.chmod(path, 0o600)
