"""Example data, the output folder rule every writer shares: empty or absent, or ``overwrite`` replaces only the
writer's own files (other files in the folder are kept)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cxrdet.errors import ConfigError


def prepare_out_dir(out: Path, overwrite: bool, own: Iterable[str]) -> None:
    """Checks ``out`` and, with ``overwrite``, removes the files the writer makes (``own``: glob patterns relative
    to ``out``, e.g. ``'images/*.png'``, ``'labels.csv'``).

    Raises:
        ConfigError: ``out`` is not a folder, or is not empty and ``overwrite`` is False.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"{out} is not empty; choose an empty folder or pass --overwrite")
        for pattern in own:
            for old in out.glob(pattern):
                if old.is_file():
                    old.unlink()
