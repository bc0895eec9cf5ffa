"""Ensembling, test-time augmentation: map predictions made on flipped images back to the original frame and merge.

A horizontal flip of an image ``W`` pixels wide maps ``x`` to ``W - x`` (continuous coordinates), so a box
``x_min, x_max`` predicted on the flipped image is ``W - x_max, W - x_min`` in the original; likewise
vertically with the height. Flipping twice is the identity. "No finding" boxes (class 14, the
whole-image marker ``0 0 1 1``) are left as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cxrdet.errors import ConfigError, InputError
from cxrdet.structures import BOX_COLUMNS, VINDR, BoxTable, DatasetMeta

FLIPS: tuple[str, ...] = ("h", "v", "hv")


def _check_flip(flip: str) -> None:
    if flip not in FLIPS:
        raise ConfigError(f"unknown flip {flip!r}: expected 'h' (horizontal), 'v' (vertical) or 'hv'")


def flip_boxes(boxes, height=None, width=None, flip: str = "h") -> np.ndarray:
    """Flips xyxy boxes (their own inverse: maps flipped-frame boxes back to the original frame).

    Args:
        boxes: (N, 4) ``x_min, y_min, x_max, y_max``.
        height: image height (scalar or (N,)), needed for vertical flips.
        width: image width (scalar or (N,)), needed for horizontal flips.
        flip: "h", "v" or "hv".

    Returns:
        (N, 4) float64 boxes, min/max kept in order.

    Raises:
        ConfigError: unknown flip, or the size it needs is missing.
    """
    _check_flip(flip)
    out = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    if "h" in flip:
        if width is None:
            raise ConfigError("a horizontal flip needs the image width")
        w = np.asarray(width, dtype=np.float64)
        out[:, 0], out[:, 2] = w - out[:, 2], w - out[:, 0]
    if "v" in flip:
        if height is None:
            raise ConfigError("a vertical flip needs the image height")
        h = np.asarray(height, dtype=np.float64)
        out[:, 1], out[:, 3] = h - out[:, 3], h - out[:, 1]
    return out


def deaugment_table(
    table: BoxTable, flip: str = "h", sizes: pd.DataFrame | None = None, meta: DatasetMeta = VINDR
) -> BoxTable:
    """Maps a table predicted on flipped images back to the original frame.

    Args:
        table: predictions in the flipped images' pixels (same size as the originals).
        flip: "h", "v" or "hv".
        sizes: optional sizes (index image_id; height, width) used where the table has none.
        meta: the data set; boxes of its "no finding" class (``0 0 1 1``) are not flipped.

    Returns:
        A new table in original-frame pixels ("no finding" boxes unchanged).

    Raises:
        InputError: an image with boxes has no known size (naming the file).
    """
    _check_flip(flip)
    images = table.images[["height", "width"]].copy()
    if sizes is not None:
        given = sizes.reindex(images.index)[["height", "width"]]
        images = images.fillna(given)
    b = table.boxes
    hw = images.reindex(b["image_id"])[["height", "width"]].to_numpy(np.float64)
    move = b["class_id"].to_numpy() != (-1 if meta.no_finding is None else meta.no_finding)
    need = [i for c, i in (("v", 0), ("h", 1)) if c in flip]
    unknown = move & np.isnan(hw[:, need]).any(axis=1)
    if unknown.any():
        image = b["image_id"].iloc[int(np.argmax(unknown))]
        raise InputError(
            table.source or "<table>",
            f"image {image} has no height/width, needed to undo the flip (add height,width columns or pass sizes)",
        )
    xyxy = b[list(BOX_COLUMNS)].to_numpy(np.float64)
    xyxy[move] = flip_boxes(xyxy[move], hw[move, 0], hw[move, 1], flip)
    boxes = b.copy()
    boxes[list(BOX_COLUMNS)] = xyxy
    return BoxTable(boxes, table.images.copy(), table.source)


def merge_tta(
    original: BoxTable,
    augmented: Sequence[tuple[BoxTable, str]] | BoxTable,
    flip: str = "h",
    weights=None,
    iou_thr: float = 0.4,
    skip_box_thr: float = 0.0,
    conf_type: str = "avg",
    allows_overflow: bool = False,
    missing: str = "error",
    sizes: pd.DataFrame | None = None,
    meta: DatasetMeta = VINDR,
) -> BoxTable:
    """Merges predictions on the original images with predictions on flipped copies, by WBF.

    Args:
        original: predictions on the original images.
        augmented: one table predicted on flipped images (flip given by ``flip``), or a list of
            ``(table, flip)`` pairs.
        flip: the flip of a single ``augmented`` table.
        weights: one weight per table (original first), or None.
        iou_thr, skip_box_thr, conf_type, allows_overflow, missing: as in
            :func:`cxrdet.ensemble.fuse.ensemble_tables`.
        sizes: optional image sizes (index image_id; height, width).
        meta: the data set (classes, "no finding" class); VinDr by default.

    Returns:
        The fused table in original pixels.
    """
    from cxrdet.ensemble.fuse import ensemble_tables

    pairs = [(augmented, flip)] if isinstance(augmented, BoxTable) else list(augmented)
    tables = [original] + [deaugment_table(t, f, sizes, meta) for t, f in pairs]
    return ensemble_tables(
        tables, "wbf", weights, iou_thr, skip_box_thr, conf_type, allows_overflow, missing, sizes, meta=meta
    )
