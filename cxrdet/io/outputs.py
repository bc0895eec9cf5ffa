"""Files out, the guard every command runs first: never replace a file silently, never write onto an input."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cxrdet.errors import InputError


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _sources(inputs: Iterable[str | os.PathLike | None]) -> list[Path]:
    return [Path(source) for source in inputs if source is not None]


def _is(path: Path, source: Path) -> bool:
    """The same file or folder, even through another name or a link."""
    return _same(path, source) or path.resolve() == source.resolve()


def check_output_file(
    path: str | os.PathLike,
    inputs: Iterable[str | os.PathLike | None] = (),
    *,
    overwrite: bool = False,
    flag: str = "--overwrite",
) -> Path:
    """``path`` if a command may write its output file there.

    Args:
        path: the output file.
        inputs: the command's input files (None entries are skipped).
        overwrite: the user allowed replacing an existing file.
        flag: the option that allows it, for the message.

    Raises:
        InputError: ``path`` is one of ``inputs`` (the same file, even through another name or a link;
            refused even with ``overwrite``), a directory, or an existing file without ``overwrite``.
    """
    path = Path(path)
    for source in _sources(inputs):
        if _is(path, source):
            raise InputError(path, "is one of this command's inputs; write the output to another file")
    if path.is_dir():
        raise InputError(path, "is a directory; expected an output file name")
    if path.exists() and not overwrite:
        raise InputError(path, f"exists already; choose another output or pass {flag} to replace it")
    return path


def check_output_dir(
    path: str | os.PathLike, flag: str = "--out", inputs: Iterable[str | os.PathLike | None] = ()
) -> Path:
    """``path`` if it is a folder or can become one (``flag`` names the option for the message).

    Args:
        path: the output folder.
        flag: the option that names it, for the message.
        inputs: the command's input files or folders (None entries are skipped): the output folder may be
            none of them, nor lie inside an input folder.

    Raises:
        InputError: ``path`` (or a parent of it) is an existing file, or ``path`` is (or is inside) an input.
    """
    path = Path(path)
    for source in _sources(inputs):
        if _is(path, source):
            raise InputError(path, f"is one of this command's inputs; give {flag} another folder")
        if source.is_dir() and source.resolve() in path.resolve().parents:
            raise InputError(path, f"is inside the input folder {source}; give {flag} a folder outside it")
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            what = "is a file" if p == path else f"is inside {p}, which is a file"
            raise InputError(path, f"{what}; {flag} takes a folder (created if needed)")
        if p.exists():
            break
    return path
