"""Ensembling, pixel side: fuse several models' prediction tables (original pixels) into one table.

:func:`ensemble_tables` validates the tables, normalises each image's boxes by its width/height, runs one
of the kernels (WBF, NMS, soft-NMS, NMW; identical to ensemble-boxes run image by image) and maps the
result back to pixels. For tuning, :func:`prepare` does the validation and flattening once and
:func:`fuse` runs any number of settings on it.

"No finding" (class 14) is kept out of box fusion: per image, its score is the weighted mean over models
of each model's class-14 score (a model's missing class-14 row for that image counts as 0; a model with
no class-14 row in any image is left out of that mean, since it does not predict normality; several
rows of one model for one image count as their maximum). One ``14 p 0 0 1 1`` box is emitted per image
where some model gave class 14 (``p`` may be 0), after that image's fused boxes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from numba import njit

from cxrdet.ensemble import checks
from cxrdet.errors import ConfigError
from cxrdet.ops.arrays import FlatBoxes, FusedBoxes
from cxrdet.structures import BOX_COLUMNS, NO_FINDING_BOX, VINDR, BoxTable, DatasetMeta

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("wbf", "nms", "soft_nms", "nmw")
_STR = pd.Series([""]).astype(str).dtype  # the string dtype BoxTable stores image ids in


@dataclass
class Prepared:
    """Validated, flattened input of an ensemble, reusable across settings.

    Attributes:
        flat: every model's boxes except class 14, normalised per image.
        images: all images (union over tables), the output's image list.
        height, width: (n_images,) sizes used to normalise.
        sizes_known: (n_images,) False where the size was taken from the largest coordinate.
        normal: (n_models, n_images) class-14 score per model and image (0 where absent).
        has_normal: (n_models,) whether a model gave class 14 for any image.
        normal_listed: (n_images,) whether any model gave class 14 for the image.
        sources: the tables' names.
        no_finding: the "no finding" class id (-1 when the data set has none).
    """

    flat: FlatBoxes
    images: pd.Index
    height: np.ndarray
    width: np.ndarray
    sizes_known: np.ndarray
    normal: np.ndarray
    has_normal: np.ndarray
    normal_listed: np.ndarray
    sources: list[str]
    no_finding: int = 14


def _columns(table: BoxTable, images: pd.Index) -> tuple[np.ndarray, ...]:
    """Image codes, class ids, scores and the four coordinates of a table's boxes as numpy arrays."""
    b = table.boxes
    return (
        checks.codes_of(b["image_id"], images),
        b["class_id"].to_numpy(np.int64),
        b["score"].to_numpy(np.float64),
        *(b[c].to_numpy(np.float64) for c in BOX_COLUMNS),
    )


@njit(cache=True)
def _flatten_into(
    boxes, scores, labels, models, images, start, model, codes, cls, score, x1, y1, x2, y2, width, height, normal_class
):  # pragma: no cover - compiled
    """Appends one model's boxes (class ``normal_class`` left out), normalised per image, at ``start``.

    Returns the next free row and how many boxes reach outside their image.
    """
    k, outside = start, 0
    for r in range(len(cls)):
        if cls[r] == normal_class:
            continue
        i = codes[r]
        boxes[k, 0], boxes[k, 2] = x1[r] / width[i], x2[r] / width[i]
        boxes[k, 1], boxes[k, 3] = y1[r] / height[i], y2[r] / height[i]
        scores[k], labels[k], models[k], images[k] = score[r], cls[r], model, i
        outside += min(boxes[k, 0], boxes[k, 1]) < 0.0 or max(boxes[k, 2], boxes[k, 3]) > 1.0
        k += 1
    return k, outside


def prepare(
    tables: Sequence[BoxTable],
    missing: str = "error",
    sizes: pd.DataFrame | None = None,
    unknown_size: str = "error",
    meta: DatasetMeta = VINDR,
) -> Prepared:
    """Validates the tables and flattens them for the kernels.

    Args:
        tables: one prediction table per model (original pixels).
        missing: ``"error"`` if the tables do not list the same images, or ``"empty"`` (absent = no boxes).
        sizes: optional image sizes (index image_id; columns height, width), used before the tables'.
        unknown_size: ``"error"`` or ``"max"`` (normalise by the image's largest box coordinate).
        meta: the data set: its classes, and its "no finding" class (not fused, averaged per image; none
            when ``meta.no_finding`` is None).

    Raises:
        InputError: a bad value, images missing from a file, unknown or conflicting image sizes.
        ConfigError: no tables or a bad option.
    """
    nf = -1 if meta.no_finding is None else meta.no_finding
    if not tables:
        raise ConfigError("nothing to ensemble: no prediction tables")
    for i, table in enumerate(tables):
        checks.check_table(table, i, meta)
    images = checks.image_index(tables, missing)
    height, width, known = checks.resolve_sizes(tables, images, sizes, unknown_size)
    columns = [_columns(t, images) for t in tables]
    n = sum(int((c[1] != nf).sum()) for c in columns)
    out = (np.empty((n, 4)), np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64))
    normal, listed = np.zeros((len(tables), len(images))), np.zeros(len(images), bool)
    start = 0
    for t, (codes, cls, scores, x1, y1, x2, y2) in enumerate(columns):
        start, outside = _flatten_into(*out, start, t, codes, cls, scores, x1, y1, x2, y2, width, height, nf)
        if outside:
            log.warning(
                "%s: %d boxes reach outside their image; they are clipped to it (as ensemble-boxes does)",
                checks.name_of(tables[t], t),
                outside,
            )
        is_normal = cls == nf
        listed[codes[is_normal]] = True
        np.maximum.at(normal[t], codes[is_normal], scores[is_normal])
    flat = FlatBoxes(*out, n_models=len(tables), n_images=len(images))
    sources = [checks.name_of(t, i) for i, t in enumerate(tables)]
    has_normal = np.array([(c[1] == nf).any() for c in columns], bool)
    return Prepared(flat, images, height, width, known, normal, has_normal, listed, sources, nf)


def run_kernel(
    flat: FlatBoxes,
    method: str = "wbf",
    weights=None,
    iou_thr: float = 0.4,
    skip_box_thr: float = 0.0,
    conf_type: str = "avg",
    allows_overflow: bool = False,
    sigma: float = 0.5,
    thresh: float = 0.001,
    soft_method: int = 2,
) -> tuple[FusedBoxes, np.ndarray | None]:
    """Runs one fusion method on normalised flat boxes (see :mod:`cxrdet.ops.wbf` / ``nms``).

    Returns:
        ``(fused, order)``: rows grouped by image and the row order of ensemble-boxes' output (None
        when the rows are already in that order); ``take_rows(fused, order)`` applies it.

    Raises:
        ConfigError: unknown method or bad option values.
    """
    from cxrdet.ops import nms, nmw, wbf

    try:
        if method == "wbf":
            return wbf.wbf_rows(flat, weights, iou_thr, skip_box_thr, conf_type, allows_overflow)
        if method == "nms":
            return nms.nms_many(flat, iou_thr, weights), None
        if method == "soft_nms":
            return nms.soft_nms_many(flat, soft_method, iou_thr, sigma, thresh, weights), None
        if method == "nmw":
            return nmw.nmw_rows(flat, weights, iou_thr, skip_box_thr)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    raise ConfigError(f"unknown ensemble method {method!r}: expected one of {', '.join(METHODS)}")


def no_finding_scores(prep: Prepared, weights: np.ndarray) -> np.ndarray:
    """Per image, the weighted mean over models (that predict class 14 at all) of their class-14 score."""
    use = prep.has_normal
    if not use.any():
        return np.zeros(len(prep.images))
    w = weights[use]
    return (w[:, None] * prep.normal[use]).sum(axis=0) / w.sum()


@njit(cache=True)
def _unit(value):  # pragma: no cover - compiled
    """``value`` clamped to [0, 1]."""
    return min(max(value, 0.0), 1.0)


@njit(cache=True)
def _pixel_rows(
    perm, boxes, scores, labels, images, width, height, normal_images, normal_scores, normal_class, normal_box
):  # pragma: no cover - compiled
    """Fused rows ``perm`` (grouped by image) in pixels, each listed image's class-14 row after its boxes.

    Rows with a non-finite coordinate (clusters whose boxes all scored 0) are left out; coordinates are clamped
    to the image (normalised [0, 1]).
    Returns a (n, 5) block ``score, x_min, y_min, x_max, y_max``, the class ids, image codes, and the
    number of rows left out.
    """
    n = len(perm) + len(normal_images)
    block = np.empty((n, 5))
    cls = np.empty(n, dtype=np.int64)
    img = np.empty(n, dtype=np.int64)
    k, j, dropped = 0, 0, 0
    for q in range(len(perm) + 1):
        r = perm[q] if q < len(perm) else -1
        limit = images[r] if r >= 0 else np.iinfo(np.int64).max
        while j < len(normal_images) and normal_images[j] < limit:  # images before this row's are done
            block[k, 0], block[k, 1:] = normal_scores[j], normal_box
            cls[k], img[k] = normal_class, normal_images[j]
            k, j = k + 1, j + 1
        if r < 0:
            break
        if not (
            np.isfinite(boxes[r, 0])
            and np.isfinite(boxes[r, 1])
            and np.isfinite(boxes[r, 2])
            and np.isfinite(boxes[r, 3])
        ):
            dropped += 1
            continue
        i = images[r]
        block[k, 0] = scores[r]
        # a weighted mean of float32 coordinates at 1.0 can round to 1.0000001: clamp to the image
        block[k, 1], block[k, 3] = _unit(boxes[r, 0]) * width[i], _unit(boxes[r, 2]) * width[i]
        block[k, 2], block[k, 4] = _unit(boxes[r, 1]) * height[i], _unit(boxes[r, 3]) * height[i]
        cls[k], img[k] = labels[r], i
        k += 1
    return block[:k], cls[:k], img[:k], dropped


def to_table(
    prep: Prepared, fused: FusedBoxes, weights: np.ndarray, order: np.ndarray | None = None, source: str = ""
) -> BoxTable:
    """Fused normalised boxes (rows taken in ``order``) back to pixels, plus one class-14 box per image
    that has class 14 (after that image's boxes). Boxes of clusters whose members all scored 0 (NaN in
    ensemble-boxes, which divides by their score sum) are dropped with a warning."""
    normal_images = np.flatnonzero(prep.normal_listed)
    perm = np.arange(len(fused.scores)) if order is None else order
    block, cls, codes, dropped = _pixel_rows(
        perm,
        fused.boxes,
        fused.scores,
        fused.labels,
        fused.images,
        prep.width,
        prep.height,
        normal_images,
        no_finding_scores(prep, weights)[normal_images],
        prep.no_finding,
        np.asarray(NO_FINDING_BOX, np.float64),
    )
    if dropped:
        log.warning("dropped %d fused boxes whose members all scored 0", dropped)
    frame = pd.DataFrame(block, columns=["score", *BOX_COLUMNS], copy=False)
    frame.insert(0, "image_id", pd.Series(checks.arrow_ids(prep.images).take(pa.array(codes)), dtype=_STR))
    frame.insert(1, "class_id", cls)
    sizes = pd.DataFrame(
        {
            "height": np.where(prep.sizes_known, prep.height, np.nan),
            "width": np.where(prep.sizes_known, prep.width, np.nan),
        },
        index=prep.images,
    )
    return BoxTable(frame, sizes, source or "ensemble(" + ", ".join(prep.sources) + ")")


def fuse(prep: Prepared, method: str = "wbf", weights=None, **options) -> BoxTable:
    """Fuses prepared input with one setting and returns the pixel table.

    Args:
        prep: from :func:`prepare`.
        method: "wbf", "nms", "soft_nms" or "nmw".
        weights: one weight (> 0) per model, or None.
        **options: the method's options (see :func:`ensemble_tables`).
    """
    w = np.ones(prep.flat.n_models) if weights is None else np.asarray(weights, dtype=np.float64)
    fused, order = run_kernel(prep.flat, method, None if weights is None else w, **options)
    return to_table(prep, fused, w, order)


def ensemble_tables(
    tables: Sequence[BoxTable],
    method: str = "wbf",
    weights=None,
    iou_thr: float = 0.4,
    skip_box_thr: float = 0.0,
    conf_type: str = "avg",
    allows_overflow: bool = False,
    missing: str = "error",
    sizes: pd.DataFrame | None = None,
    unknown_size: str = "error",
    sigma: float = 0.5,
    thresh: float = 0.001,
    soft_method: int = 2,
    meta: DatasetMeta = VINDR,
) -> BoxTable:
    """Fuses several models' predictions (original pixels) into one prediction table.

    Args:
        tables: one :class:`BoxTable` per model.
        method: "wbf" (weighted boxes fusion), "nms", "soft_nms" or "nmw" (non-maximum weighted).
        weights: one weight (> 0) per table; None = all 1.
        iou_thr: IoU above which boxes are clustered / suppressed (default 0.4, the metric's).
        skip_box_thr: ignore boxes scoring below this (wbf, nmw).
        conf_type: wbf confidence: "avg", "max", "box_and_model_avg" or "absent_model_aware_avg".
        allows_overflow: wbf "avg": let a cluster with more boxes than models score above 1.
        missing: images absent from some table: "error" or "empty" (no boxes from that model).
        sizes: optional image sizes (index image_id; height, width), e.g. from :func:`cxrdet.io.sizes.read_sizes`.
        unknown_size: no size known for an image: "error" or "max" (normalise by largest coordinate).
        sigma, thresh, soft_method: soft-NMS options (gaussian sigma, keep threshold, 1 linear / 2 gaussian).
        meta: the data set (classes, "no finding" class); VinDr by default.

    Returns:
        The fused table (every image of every table listed; sizes kept where known).

    Raises:
        InputError: bad values in a table (naming its file), missing images, unknown sizes.
        ConfigError: bad options or weights.
    """
    prep = prepare(tables, missing, sizes, unknown_size, meta)
    w = checks.check_weights(weights, tables)
    return fuse(
        prep,
        method,
        None if weights is None else w,
        iou_thr=iou_thr,
        skip_box_thr=skip_box_thr,
        conf_type=conf_type,
        allows_overflow=allows_overflow,
        sigma=sigma,
        thresh=thresh,
        soft_method=soft_method,
    )
