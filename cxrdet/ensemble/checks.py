"""Ensembling, input side: validate the prediction tables to fuse and resolve every image's size.

Everything here raises :class:`~cxrdet.errors.InputError` (naming the file) or
:class:`~cxrdet.errors.ConfigError` before any kernel runs, so that fusion never fails deep inside a
library (or calls ``exit()``, as ensemble-boxes does on some bad input).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxrdet.errors import ConfigError, InputError
from cxrdet.structures import BOX_COLUMNS, VINDR, BoxTable, DatasetMeta, box_problems

log = logging.getLogger(__name__)

MISSING_POLICIES = ("error", "empty")
UNKNOWN_SIZE_POLICIES = ("error", "max")


def name_of(table: BoxTable, index: int) -> str:
    """How messages name a table: its source, or its position."""
    return table.source or f"<table {index + 1}>"


def _first_bad(table: BoxTable, bad: np.ndarray, reason: str, index: int) -> None:
    rows = np.flatnonzero(bad)
    if len(rows):
        k = int(rows[0])
        image = table.boxes["image_id"].iloc[k]
        more = f" ({len(rows)} boxes in all)" if len(rows) > 1 else ""
        raise InputError(name_of(table, index), f"box {k + 1} (image {image}): {reason}{more}")


def check_table(table: BoxTable, index: int = 0, meta: DatasetMeta = VINDR) -> None:
    """Rejects the box values :func:`cxrdet.structures.box_problems` refuses (the one check of every reader).

    Raises:
        InputError: naming the table's file, the first bad box (1-based among its boxes) and its image.
    """
    b = table.boxes
    for mask, reason in box_problems(
        b["class_id"].to_numpy(np.float64),
        b["score"].to_numpy(np.float64),
        b[list(BOX_COLUMNS)].to_numpy(np.float64),
        meta,
    ):
        _first_bad(table, mask, reason, index)


def check_weights(weights, tables: Sequence[BoxTable]) -> np.ndarray:
    """Model weights as float64 (ones when None).

    Raises:
        ConfigError: not one weight per table, or a weight that is not a finite number > 0.
    """
    if weights is None:
        return np.ones(len(tables))
    w = np.asarray(list(weights), dtype=np.float64)
    if len(w) != len(tables):
        names = ", ".join(name_of(t, i) for i, t in enumerate(tables))
        raise ConfigError(f"{len(w)} weights for {len(tables)} prediction files ({names})")
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise ConfigError(f"weights must be finite numbers > 0, got {w.tolist()}")
    return w


def image_index(tables: Sequence[BoxTable], missing: str) -> pd.Index:
    """Union of the tables' images, in first-seen order.

    Args:
        tables: the tables; each one's images are its ``images`` index plus any image its boxes name.
        missing: ``"error"``: every table must list the same images; ``"empty"``: an image a table
            lacks counts as "no boxes from that model".

    Raises:
        InputError: (``missing="error"``) naming the file that lacks images, and the first of them.
    """
    if missing not in MISSING_POLICIES:
        raise ConfigError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
    per_table = [table_images(t) for t in tables]
    union = per_table[0]
    for ids in per_table[1:]:
        union = union.append(ids.difference(union, sort=False))
    if missing == "error":
        for i, ids in enumerate(per_table):
            lacking = union.difference(ids, sort=False)
            if len(lacking):
                other = next(name_of(t, j) for j, t in enumerate(tables) if lacking[0] in per_table[j])
                raise InputError(
                    name_of(tables[i], i),
                    f"{len(lacking)} images are missing (first: "
                    f"{lacking[0]}, present in {other}); use missing='empty' (--missing "
                    "empty) to treat them as images without boxes",
                )
    return pd.Index(union, name="image_id")


def arrow_ids(values) -> pa.Array:
    """Image ids (Series, Index or array of str) as an arrow large_string array, without Python objects."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def codes_of(ids, index: pd.Index) -> np.ndarray:
    """Position of each id in ``index`` (-1 when absent), hashed by arrow."""
    found = pc.index_in(arrow_ids(ids), value_set=arrow_ids(index))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def table_images(table: BoxTable) -> pd.Index:
    """Every image a table knows: its ``images`` index, then images only its boxes name."""
    ids = pd.Index(table.images.index.astype(str))
    named = pd.Index(pc.unique(arrow_ids(table.boxes["image_id"])).to_pylist(), dtype=ids.dtype)
    extra = named.difference(ids, sort=False)
    return ids.append(extra) if len(extra) else ids


def resolve_sizes(
    tables: Sequence[BoxTable], images: pd.Index, sizes: pd.DataFrame | None, unknown_size: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Height and width of every image, from ``sizes`` first, then from the tables.

    Args:
        tables: the tables (their ``images`` height/width columns).
        images: the images to size.
        sizes: optional frame indexed by image_id with ``height``, ``width``.
        unknown_size: ``"error"``, or ``"max"``: size an unknown image by its largest box coordinates.

    Returns:
        ``(height, width, known)`` arrays aligned with ``images``; ``known`` is False where "max" was used.

    Raises:
        InputError: tables disagree on an image's size, or a size is unknown with ``unknown_size="error"``.
    """
    if unknown_size not in UNKNOWN_SIZE_POLICIES:
        raise ConfigError(f"unknown_size must be one of {UNKNOWN_SIZE_POLICIES}, got {unknown_size!r}")
    hw = np.full((len(images), 2), np.nan)
    owner = np.full(len(images), -1)
    for i, table in enumerate(tables):
        t_hw = table.images.reindex(images)[["height", "width"]].to_numpy(np.float64)
        has = ~np.isnan(t_hw).any(axis=1)
        clash = has & (owner >= 0) & (t_hw != hw).any(axis=1)
        if clash.any():
            k = int(np.argmax(clash))
            raise InputError(
                name_of(table, i),
                f"image {images[k]} is {t_hw[k, 1]:g}x{t_hw[k, 0]:g} (WxH) "
                f"here but {hw[k, 1]:g}x{hw[k, 0]:g} in {name_of(tables[owner[k]], owner[k])}",
            )
        new = has & (owner < 0)
        hw[new], owner[new] = t_hw[new], i
    if sizes is not None:
        given = sizes.reindex(images)[["height", "width"]].to_numpy(np.float64)
        has = ~np.isnan(given).any(axis=1)
        hw[has] = given[has]
    known = ~np.isnan(hw).any(axis=1)
    if not known.all():
        if unknown_size == "error":
            k = int(np.argmin(known))
            files = ", ".join(name_of(t, i) for i, t in enumerate(tables))
            raise InputError(
                files,
                f"{int((~known).sum())} images have no height/width (first: {images[k]}); "
                "add height,width columns, give a sizes file (--sizes), or allow normalising "
                "by the largest box coordinate (unknown_size='max', --unknown-size max)",
            )
        hw[~known] = _max_coordinates(tables, images[~known])
        log.warning("%d images without a known size: normalised by their largest box coordinate", int((~known).sum()))
    return hw[:, 0], hw[:, 1], known


def _max_coordinates(tables: Sequence[BoxTable], ids: pd.Index) -> np.ndarray:
    """(len(ids), 2) largest y_max and x_max over every table's boxes of each image (1 when none)."""
    frames = [t.boxes.loc[t.boxes["image_id"].isin(ids), ["image_id", "y_max", "x_max"]] for t in tables]
    top = pd.concat(frames).groupby("image_id")[["y_max", "x_max"]].max().reindex(ids)
    values = top.to_numpy(np.float64)
    return np.where(np.isfinite(values) & (values > 0), values, 1.0)
