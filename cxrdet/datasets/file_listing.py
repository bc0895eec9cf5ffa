"""Data sets, finding images by id: the files of a folder by stem (the CSV-driven data sets' image lookup)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def files_by_stem(folder: Path, suffixes: Sequence[str]) -> dict[str, Path]:
    """``stem -> file`` of the files directly in ``folder`` with one of ``suffixes`` (lower-cased match); for a stem
    with several such files the earliest suffix of ``suffixes`` wins. ``{}`` when ``folder`` is no folder."""
    if not folder.is_dir():
        return {}
    rank = {s: i for i, s in enumerate(suffixes)}
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in rank:
            old = out.get(p.stem)
            if old is None or rank[p.suffix.lower()] < rank[old.suffix.lower()]:
                out[p.stem] = p
    return out
