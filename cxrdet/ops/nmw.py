"""Fusion kernels: non-maximum weighted fusion (NMW) over many images at once, identical to ensemble-boxes.

:func:`nmw_many` fuses every image of a :class:`~cxrdet.ops.arrays.FlatBoxes`;
:func:`non_maximum_weighted` is a drop-in for ``ensemble_boxes.non_maximum_weighted`` on one image.
As in ensemble-boxes 1.0.9, weights are used as ``w / max(w)``, a box joins the cluster whose FIRST
(best) box it overlaps most (IoU strictly above ``iou_thr``), and fused boxes and scores are float32
values.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cxrdet.ops.arrays import FlatBoxes, FusedBoxes, as_weights, empty_fused, from_lists
from cxrdet.ops.groups import make_groups
from cxrdet.ops.order import final_order, take_rows
from cxrdet.ops.wbf import check_params


@njit(cache=True, inline="always")
def _nmw_iou(a, b):  # pragma: no cover - compiled; ensemble-boxes' bb_intersection_over_union
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    if inter == 0:
        return 0.0
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@njit(cache=True, error_model="numpy")
def _nmw_kernel(boxes, scores, offsets, group_order, iou_thr):  # pragma: no cover - compiled
    n_rows = len(scores)
    out_boxes, out_scores = np.empty((n_rows, 4)), np.empty(n_rows)
    out_group = np.empty(n_rows, dtype=np.int64)
    main = np.empty(n_rows, dtype=np.int64)
    cluster = np.empty(n_rows, dtype=np.int64)
    n_out = 0
    for g in group_order:
        s, e = offsets[g], offsets[g + 1]
        n_c = 0
        for r in range(s, e):  # match against each cluster's first (best) box
            best, best_iou = -1, iou_thr
            for c in range(n_c):
                v = _nmw_iou(boxes[main[c]], boxes[r])
                if v > best_iou:
                    best, best_iou = c, v
            if best < 0:
                main[n_c] = r
                best = n_c
                n_c += 1
            cluster[r] = best
        acc = np.zeros((n_c, 4), dtype=np.float32)
        conf = np.zeros(n_c)
        for r in range(s, e):
            c = cluster[r]
            weight = scores[r] * _nmw_iou(boxes[r], boxes[main[c]])
            for k in range(4):
                acc[c, k] = np.float32(np.float64(acc[c, k]) + weight * boxes[r, k])
            conf[c] += weight
        for c in range(n_c):
            for k in range(4):
                out_boxes[n_out, k] = np.float32(np.float64(acc[c, k]) / conf[c])
            out_scores[n_out] = np.float32(scores[main[c]])
            out_group[n_out] = g
            n_out += 1
    return out_boxes[:n_out], out_scores[:n_out], out_group[:n_out]


def nmw_rows(
    flat: FlatBoxes, weights=None, iou_thr: float = 0.55, skip_box_thr: float = 0.0
) -> tuple[FusedBoxes, np.ndarray | None]:
    """Non-maximum weighted fusion per image and class for every image at once, before the final sort.

    Each cluster (boxes overlapping its highest-scoring box by IoU > ``iou_thr``) becomes the IoU- and
    score-weighted mean box, scored with its best box's score.

    Args:
        flat: all models' boxes (normalised) over all images.
        weights: one weight (> 0) per model (used as ``w / max(w)``), or None.
        iou_thr: IoU with a cluster's best box needed to join it.
        skip_box_thr: boxes scoring below this are ignored.

    Returns:
        ``(fused, order)``: fused boxes grouped by image and the row order that sorts each image like
        ensemble-boxes (score descending, as float32).
    """
    check_params(iou_thr, skip_box_thr)
    w = as_weights(weights, flat.n_models)
    w = w / w.max()
    groups = make_groups(flat, flat.scores * w[flat.models], float(skip_box_thr), sort=True)
    if len(groups.scores) == 0:
        return empty_fused(), None
    group_order = np.lexsort((groups.first, groups.image))
    boxes, scores, group = _nmw_kernel(groups.boxes, groups.scores, groups.offsets, group_order, float(iou_thr))
    fused = FusedBoxes(boxes, scores, groups.label[group], groups.image[group])
    return fused, final_order(fused, flat.n_images, key=scores.astype(np.float32))


def nmw_many(flat: FlatBoxes, weights=None, iou_thr: float = 0.55, skip_box_thr: float = 0.0) -> FusedBoxes:
    """Non-maximum weighted fusion of every image at once (arguments as :func:`nmw_rows`), each image
    sorted like ensemble-boxes."""
    return take_rows(*nmw_rows(flat, weights, iou_thr, skip_box_thr))


def non_maximum_weighted(
    boxes_list, scores_list, labels_list, weights=None, iou_thr: float = 0.55, skip_box_thr: float = 0.0
):
    """Drop-in for ``ensemble_boxes.non_maximum_weighted`` on one image; returns ``(boxes, scores, labels)``."""
    fused = nmw_many(from_lists(boxes_list, scores_list, labels_list), weights, iou_thr, skip_box_thr)
    return fused.boxes, fused.scores, fused.labels.astype(np.float64)
