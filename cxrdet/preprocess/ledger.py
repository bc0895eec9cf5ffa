"""``cxrdet convert``'s ledger: each input's fingerprint and outcome, so that a resumed run knows what is done.

One JSON line per input (``ledger.jsonl`` in the output folder), appended as each file finishes, so a kill
loses nothing; a torn last line is ignored on reading. An input is redone only when its fingerprint
(size, mtime and a hash of its first bytes, where the DICOM header lies) changed: a DICOM replaced under
the same name is converted again, and a file that crashed a decoder is not decoded again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cxrdet.io.atomic import write_text

log = logging.getLogger(__name__)

LEDGER_FILE = "ledger.jsonl"
_HEAD_BYTES = 16384  # preamble + file meta + the header of a typical radiograph
CONVERTED, FAILED = "converted", "failed"


def fingerprint(path: str | os.PathLike, key: bytes = b"") -> str:
    """An opaque fingerprint of a file: keyed BLAKE2b of its size, mtime and first 16 KiB.

    Args:
        path: the file.
        key: hashing key (the pseudonymisation salt, so that the fingerprint says nothing of the header).
    """
    stat = os.stat(path)
    digest = hashlib.blake2b(key=key[:64], digest_size=16)
    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}:".encode())
    with open(path, "rb") as f:
        digest.update(f.read(_HEAD_BYTES))
    return digest.hexdigest()


@dataclass
class Outcome:
    """What happened to one input.

    Attributes:
        image_id: the image id (a pseudonym with ``--pseudonymize``).
        fingerprint: :func:`fingerprint` of the input when it was processed.
        outcome: ``"converted"`` or ``"failed"``.
        reason: why it failed (no raw header value), or None.
        record: its ``meta.csv`` row when converted.
    """

    image_id: str
    fingerprint: str
    outcome: str
    reason: str | None = None
    record: dict = field(default_factory=dict)


class Ledger:
    """The outcomes recorded in an output folder, and an append-only writer for new ones."""

    def __init__(self, out: str | os.PathLike):
        self.path = Path(out) / LEDGER_FILE
        self.entries: dict[str, Outcome] = {}
        if self.path.exists():
            self._load()
        self._file = None

    def _load(self) -> None:
        torn = 0
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = Outcome(**json.loads(line))
            except (ValueError, TypeError):
                torn += 1  # a line cut by a kill: that input is simply done again
                continue
            self.entries[entry.image_id] = entry
        if torn:
            log.debug("%s: %d unreadable line(s) ignored", self.path, torn)

    def lookup(self, image_id: str, print_: str) -> Outcome | None:
        """The recorded outcome of ``image_id`` if its fingerprint is still ``print_``, else None."""
        entry = self.entries.get(image_id)
        return entry if entry is not None and entry.fingerprint == print_ else None

    def add(self, entry: Outcome) -> None:
        """Record an outcome now (appended and flushed: it survives a kill of this process)."""
        self.entries[entry.image_id] = entry
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._file.write(json.dumps(asdict(entry), default=str) + "\n")
        self._file.flush()

    def close(self, keep: set[str] | None = None) -> None:
        """Rewrite the ledger compactly (one line per input, only ``keep`` ids when given), atomically."""
        if self._file is not None:
            self._file.close()
            self._file = None
        entries = [e for i, e in sorted(self.entries.items()) if keep is None or i in keep]
        write_text(self.path, "".join(json.dumps(asdict(e), default=str) + "\n" for e in entries))
