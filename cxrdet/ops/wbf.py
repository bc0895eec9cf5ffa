"""Fusion kernels: weighted boxes fusion (WBF) over many images in one compiled pass, identical to ensemble-boxes.

:func:`wbf_many` fuses every image of a :class:`~cxrdet.ops.arrays.FlatBoxes` at once;
:func:`weighted_boxes_fusion` is a drop-in for ``ensemble_boxes.weighted_boxes_fusion`` on one image.
Both reproduce ensemble-boxes 1.0.9 bit for bit where it matters: the visiting order (see
:mod:`cxrdet.ops.arrays`), matching each box against the running fused boxes (IoU strictly above
``iou_thr``, first best), the float32 accumulation of fused boxes and scores, and the closing
rescale of the confidence for each ``conf_type``. Unlike ensemble-boxes it never calls ``exit()`` or
guesses: mismatched lengths, NaN/inf values, an unknown ``conf_type`` and a wrong number of weights
(which ensemble-boxes replaces by all 1) raise ``ValueError``. Inputs are read as float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cxrdet.ops.arrays import FlatBoxes, FusedBoxes, as_weights, empty_fused, from_lists
from cxrdet.ops.groups import make_groups
from cxrdet.ops.order import final_order, take_rows

CONF_TYPES: tuple[str, ...] = ("avg", "max", "box_and_model_avg", "absent_model_aware_avg")


@njit(cache=True, inline="always")
def _iou(a, b):  # pragma: no cover - compiled; same operations as ensemble-boxes' bb_iou_array
    x_a = max(a[0], b[0])
    y_a = max(a[1], b[1])
    x_b = min(a[2], b[2])
    y_b = min(a[3], b[3])
    inter = max(x_b - x_a, 0.0) * max(y_b - y_a, 0.0)
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area_a + area_b - inter)


@njit(cache=True)
def _match(fused, n_clusters, box, iou_thr):  # pragma: no cover - compiled
    """np.argmax over IoUs with the fused boxes (first best, NaN wins), then 'best <= thr -> no match'."""
    best, best_iou = -1, -np.inf
    for c in range(n_clusters):
        v = _iou(fused[c], box)
        if v != v:
            return c
        if best < 0 or v > best_iou:
            best, best_iou = c, v
    if best < 0 or best_iou <= iou_thr:
        return -1
    return best


@njit(cache=True)
def _rescale(score, count, wcol, present, weights, wsum, wmax, mode, overflow):  # pragma: no cover
    """ensemble-boxes' closing confidence rescale of one cluster."""
    if mode == 2:  # box_and_model_avg
        s = score * count / wcol
        used = 0.0
        for t in range(len(weights)):
            if present[t]:
                used += weights[t]
        return s * used / wsum
    if mode == 3:  # absent_model_aware_avg
        absent = 0.0
        for t in range(len(weights)):
            if not present[t]:
                absent += weights[t]
        return score * count / (wcol + absent)
    if mode == 1:  # max
        return score / wmax
    if not overflow:
        return score * min(len(weights), count) / wsum
    return score * count / wsum


@njit(cache=True, error_model="numpy")
def _wbf_kernel(
    boxes, scores, models, offsets, group_order, weights, wsum, wmax, iou_thr, mode, overflow
):  # pragma: no cover - compiled
    n_rows, n_models = len(scores), len(weights)
    max_group = 0
    for g in range(len(offsets) - 1):
        max_group = max(max_group, offsets[g + 1] - offsets[g])
    fused = np.empty((max_group, 4))  # weighted_boxes[:, 4:], float64 holding float32 values once fused
    acc = np.empty((max_group, 4), dtype=np.float32)
    conf, wacc, smax = np.empty(max_group), np.empty(max_group), np.empty(max_group)
    score_col, wcol = np.empty(max_group), np.empty(max_group)
    count = np.empty(max_group, dtype=np.int64)
    present = np.zeros((max_group, n_models), dtype=np.bool_)
    out_boxes = np.empty((n_rows, 4))
    out_scores = np.empty(n_rows)
    out_group = np.empty(n_rows, dtype=np.int64)
    n_out = 0
    for g in group_order:
        n_c = 0
        for r in range(offsets[g], offsets[g + 1]):
            s, w = scores[r], weights[models[r]]
            c = _match(fused, n_c, boxes[r], iou_thr)
            if c < 0:  # new cluster: weighted_boxes row = the box itself (float64)
                c = n_c
                n_c += 1
                for k in range(4):
                    fused[c, k] = boxes[r, k]
                    acc[c, k] = np.float32(s * boxes[r, k])
                conf[c], wacc[c], smax[c], count[c] = s, w, s, 1
                score_col[c], wcol[c] = s, w
                present[c, :] = False
                present[c, models[r]] = True
                continue
            for k in range(4):
                acc[c, k] = np.float32(np.float64(acc[c, k]) + s * boxes[r, k])
            conf[c] += s
            wacc[c] += w
            smax[c] = max(smax[c], s)
            count[c] += 1
            present[c, models[r]] = True
            for k in range(4):
                fused[c, k] = np.float32(np.float64(acc[c, k]) / conf[c])
            score_col[c] = np.float32(smax[c] if mode == 1 else conf[c] / count[c])
            wcol[c] = np.float32(wacc[c])
        for c in range(n_c):
            out_boxes[n_out] = fused[c]
            out_scores[n_out] = _rescale(
                score_col[c], count[c], wcol[c], present[c], weights, wsum, wmax, mode, overflow
            )
            out_group[n_out] = g
            n_out += 1
    return out_boxes[:n_out], out_scores[:n_out], out_group[:n_out]


def check_params(iou_thr: float, skip_box_thr: float, conf_type: str | None = None) -> None:
    """Reject option values that ensemble-boxes would misuse or ``exit()`` on.

    Raises:
        ValueError: a threshold that is not a finite number, or an unknown ``conf_type``.
    """
    for name, value in (("iou_thr", iou_thr), ("skip_box_thr", skip_box_thr)):
        if not np.isfinite(float(value)):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if conf_type is not None and conf_type not in CONF_TYPES:
        raise ValueError(f"unknown conf_type {conf_type!r}: expected one of {', '.join(CONF_TYPES)}")


def wbf_rows(
    flat: FlatBoxes,
    weights=None,
    iou_thr: float = 0.55,
    skip_box_thr: float = 0.0,
    conf_type: str = "avg",
    allows_overflow: bool = False,
) -> tuple[FusedBoxes, np.ndarray | None]:
    """Weighted boxes fusion of every image at once, before the final per-image sort.

    Args:
        flat: all models' boxes (normalised) over all images.
        weights: one weight (> 0) per model; None for all ones.
        iou_thr: a box joins the best-overlapping fused box when their IoU is strictly above this.
        skip_box_thr: boxes scoring below this are ignored.
        conf_type: "avg", "max", "box_and_model_avg" or "absent_model_aware_avg".
        allows_overflow: with "avg", let a cluster with more boxes than models score above 1.

    Returns:
        ``(fused, order)``: fused boxes grouped by image (each in class, then cluster order) and the
        row order that sorts each image as ensemble-boxes returns it (``take_rows(fused, order)``).

    Raises:
        ValueError: bad weights or options.
    """
    check_params(iou_thr, skip_box_thr, conf_type)
    w = as_weights(weights, flat.n_models)
    groups = make_groups(flat, flat.scores * w[flat.models], float(skip_box_thr), sort=True)
    if len(groups.scores) == 0:
        return empty_fused(), None
    group_order = np.lexsort((groups.first, groups.image))
    boxes, scores, group = _wbf_kernel(
        groups.boxes,
        groups.scores,
        groups.models,
        groups.offsets,
        group_order,
        w,
        w.sum(),
        w.max(),
        float(iou_thr),
        CONF_TYPES.index(conf_type),
        bool(allows_overflow),
    )
    fused = FusedBoxes(boxes, scores, groups.label[group], groups.image[group])
    return fused, final_order(fused, flat.n_images)


def wbf_many(
    flat: FlatBoxes,
    weights=None,
    iou_thr: float = 0.55,
    skip_box_thr: float = 0.0,
    conf_type: str = "avg",
    allows_overflow: bool = False,
) -> FusedBoxes:
    """Weighted boxes fusion of every image at once (arguments as :func:`wbf_rows`).

    Returns:
        Fused boxes, grouped by image, each image in ensemble-boxes' output order.

    Raises:
        ValueError: bad weights or options.
    """
    return take_rows(*wbf_rows(flat, weights, iou_thr, skip_box_thr, conf_type, allows_overflow))


def weighted_boxes_fusion(
    boxes_list,
    scores_list,
    labels_list,
    weights=None,
    iou_thr: float = 0.55,
    skip_box_thr: float = 0.0,
    conf_type: str = "avg",
    allows_overflow: bool = False,
):
    """Drop-in for ``ensemble_boxes.weighted_boxes_fusion`` on one image (same arguments and results).

    Args:
        boxes_list: per model, (n, 4) boxes ``x1, y1, x2, y2`` normalised to [0, 1].
        scores_list: per model, (n,) scores.
        labels_list: per model, (n,) class ids.
        weights, iou_thr, skip_box_thr, conf_type, allows_overflow: as in :func:`wbf_many`.

    Returns:
        ``(boxes (K, 4), scores (K,), labels (K,))`` as float64 arrays, sorted by score descending.

    Raises:
        ValueError: mismatched lengths, non-finite values, wrong number of weights, unknown conf_type.
    """
    fused = wbf_many(
        from_lists(boxes_list, scores_list, labels_list), weights, iou_thr, skip_box_thr, conf_type, allows_overflow
    )
    return fused.boxes, fused.scores, fused.labels.astype(np.float64)
