"""Files in and out, dataset metainfo: ``classes.json`` of a convert folder, ``PRED.classes.json`` beside predictions.

``cxrdet convert`` writes ``OUT/classes.json``; ``predict`` and ``ensemble`` write ``PRED.classes.json`` beside
each prediction file they write. Every later command finds the class list with :func:`meta_for` from the
files it is given, so no command needs a ``--classes`` flag; with no such file anywhere the data set is VinDr.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from cxrdet.errors import InputError
from cxrdet.io.atomic import write_text
from cxrdet.structures import VINDR, DatasetMeta

log = logging.getLogger(__name__)

CLASSES_FILE = "classes.json"
_MAX_BYTES = 1 << 20


def companion_path(output: str | os.PathLike) -> Path:
    """``pred.classes.json`` for ``pred.csv`` (or ``pred.parquet``)."""
    output = Path(output)
    return output.with_name(f"{output.with_suffix('').name}.classes.json")


def read_meta_file(path: str | os.PathLike) -> DatasetMeta:
    """Reads a ``classes.json`` (``{"classes": [...], "no_finding": id or null}``).

    Raises:
        InputError: unreadable, not JSON, or not a valid class list (naming the file).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(path, f"cannot read the class list ({err.strerror or type(err).__name__})") from None
    if len(data) > _MAX_BYTES:
        raise InputError(path, f"class list larger than {_MAX_BYTES} bytes")
    try:
        return DatasetMeta.from_dict(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(path, "not a JSON class list (UTF-8 JSON expected)") from None
    except (ValueError, TypeError) as err:
        raise InputError(path, f"not a valid class list: {err}") from None


def write_meta(path: str | os.PathLike, meta: DatasetMeta) -> Path:
    """Writes ``meta`` as JSON to ``path`` atomically; returns the path."""
    write_text(path, meta.to_json())
    return Path(path)


def write_companion(output: str | os.PathLike, meta: DatasetMeta) -> Path:
    """Writes ``PRED.classes.json`` beside the prediction file ``output``."""
    return write_meta(companion_path(output), meta)


def read_convert_meta(folder: str | os.PathLike) -> DatasetMeta:
    """The class list of a ``cxrdet convert`` output folder (VinDr for a folder written before classes.json).

    This is what train and predict call with their ``--data-root``.

    Raises:
        InputError: the folder's ``classes.json`` exists but is not a valid class list.
    """
    path = Path(folder) / CLASSES_FILE
    return read_meta_file(path) if path.is_file() else VINDR


def meta_beside(path: str | os.PathLike) -> tuple[DatasetMeta, Path] | None:
    """The class list that belongs to a table file: its ``PRED.classes.json``, else its folder's ``classes.json``."""
    path = Path(path)
    for candidate in (companion_path(path), path.parent / CLASSES_FILE):
        if candidate.is_file():
            return read_meta_file(candidate), candidate
    return None


def meta_for(paths: Iterable[str | os.PathLike]) -> DatasetMeta:
    """The one class list of several input files (VinDr when none of them has one beside it).

    Raises:
        InputError: two inputs carry different class lists (naming both files).
    """
    found: tuple[DatasetMeta, Path] | None = None
    for p in paths:
        here = meta_beside(p)
        if here is None:
            continue
        if found is not None and here[0] != found[0]:
            raise InputError(
                here[1],
                f"class list differs from {found[1]} ({len(here[0].classes)} vs "
                f"{len(found[0].classes)} classes, or other names); these files belong to "
                "different data sets",
            )
        found = found or here
    if found is None:
        return VINDR
    log.debug("class list from %s: %d classes", found[1], found[0].num_classes)
    return found[0]
