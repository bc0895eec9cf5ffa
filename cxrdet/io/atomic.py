"""Atomic file writes: a reader (or a killed run) never sees a half-written output file.

Temporary files are hidden (``.<stem>.<random>.tmp<suffix>``) beside their target; :func:`remove_stale_temps`
clears those a killed run left behind. Finished files get the user's umask, like any file ``open`` creates.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".tmp"


def _umask() -> int:
    try:  # Linux: read it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions a new regular file gets from ``open``: ``0o666`` less the umask."""
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``, else removed.

    The temporary name keeps the final suffix (writers such as ``cv2.imwrite`` pick the format from it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f"{TEMP_MARK}{path.suffix}", dir=path.parent)
    os.fchmod(fd, file_mode())  # mkstemp makes 0600; the finished file gets the umask's mode
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_csv(path: str | os.PathLike, frame, **to_csv_kwargs) -> None:
    """Write a pandas DataFrame as CSV atomically (``index=False`` unless given)."""
    to_csv_kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **to_csv_kwargs)


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete the hidden temporary files that a killed writer left in ``folder``; returns how many."""
    removed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for p in folder.glob(f".*.*{TEMP_MARK}*"):
        if p.is_file() and TEMP_MARK in "".join(p.suffixes):
            p.unlink(missing_ok=True)
            removed += 1
    return removed
