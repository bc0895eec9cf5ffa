"""Fusion kernels: NMS, soft-NMS and non-maximum weighted (NMW) over many images at once, identical to ensemble-boxes.

``*_many`` functions take a :class:`~cxrdet.ops.arrays.FlatBoxes` (all images); :func:`nms`,
:func:`soft_nms` and :func:`non_maximum_weighted` are drop-ins for the ``ensemble_boxes`` functions of
the same names on one image. Reproduced quirks of ensemble-boxes 1.0.9 (they are the spec):

- nms / soft-NMS: with ``weights`` the scores become ``score * w / sum(w)`` (without, they are left as
  they are); no ``skip_box_thr``; results are listed class by class (ascending), not sorted by score.
- nms orders each class with numba's ``argsort`` (its own tie order), as ensemble-boxes' jitted code does.
- soft-NMS decays scores only to decide which boxes survive (decayed score > ``thresh``); the boxes it
  returns carry their ORIGINAL (weighted) scores.
- NMW weights are ``w / max(w)``; fused boxes and scores are float32 values.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cxrdet.ops.arrays import FlatBoxes, FusedBoxes, as_weights, empty_fused, from_lists
from cxrdet.ops.groups import make_groups
from cxrdet.ops.nmw import nmw_many, non_maximum_weighted  # noqa: F401  (re-exported)
from cxrdet.ops.wbf import check_params

SOFT_NMS_METHODS = {1: "linear", 2: "gaussian", 3: "hard NMS"}
_PAIR_CHUNK = 1 << 22  # box pairs whose gaussian decay is evaluated per numpy call


@njit(cache=True)
def _nms_group(boxes, scores, iou_thr, keep, n_keep, base):  # pragma: no cover - compiled
    """ensemble-boxes' nms_float_fast on one class: greedy suppression of IoU > iou_thr."""
    n = len(scores)
    order = scores.argsort()[::-1]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    suppressed = np.zeros(n, dtype=np.bool_)
    for p in range(n):
        i = order[p]
        if suppressed[i]:
            continue
        keep[n_keep] = base + i
        n_keep += 1
        for q in range(p + 1, n):
            j = order[q]
            if suppressed[j]:
                continue
            w = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
            h = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
            inter = w * h
            if not inter / (areas[i] + areas[j] - inter) <= iou_thr:
                suppressed[j] = True
    return n_keep


@njit(cache=True, inline="always")
def _ovr(a, b, area_a, area_b):  # pragma: no cover - compiled; cpu_soft_nms_float's IoU (y overlap first)
    yy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    xx = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter = yy * xx
    return inter / (area_a + area_b - inter)


@njit(cache=True)
def _soft_nms_group(boxes, scores, iou_thr, thresh, method, decay, keep, n_keep, base):  # pragma: no cover
    """ensemble-boxes' cpu_soft_nms_float on one class; appends the kept rows in processing order.

    ``decay`` holds, for the gaussian method, exp(-iou^2 / sigma) of every pair (n * n, row-major by
    original index), computed by numpy so that it is bitwise numpy's exp.
    """
    n = len(scores)
    dets, sc = boxes.copy(), scores.copy()
    idx = np.arange(n)
    areas = (dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])
    for i in range(n):
        if i != n - 1:
            m = i + 1
            for j in range(i + 2, n):
                if sc[j] > sc[m]:
                    m = j
            if sc[i] < sc[m]:
                for k in range(4):
                    dets[i, k], dets[m, k] = dets[m, k], dets[i, k]
                sc[i], sc[m] = sc[m], sc[i]
                areas[i], areas[m] = areas[m], areas[i]
                idx[i], idx[m] = idx[m], idx[i]
        for j in range(i + 1, n):
            if method == 2:
                weight = decay[idx[i] * n + idx[j]]
            else:
                ovr = _ovr(dets[i], dets[j], areas[i], areas[j])
                if method == 1:
                    weight = 1.0 - ovr if ovr > iou_thr else 1.0
                else:
                    weight = 0.0 if ovr > iou_thr else 1.0
            sc[j] = weight * sc[j]
    for i in range(n):
        if sc[i] > thresh:
            keep[n_keep] = base + idx[i]
            n_keep += 1
    return n_keep


@njit(cache=True)
def _pair_ovr(boxes, offsets, g0, g1):  # pragma: no cover - compiled
    """IoU of every ordered pair within each group g0..g1-1, concatenated (n * n per group)."""
    total = 0
    for g in range(g0, g1):
        total += (offsets[g + 1] - offsets[g]) ** 2
    out = np.empty(total)
    pos = 0
    for g in range(g0, g1):
        b = boxes[offsets[g] : offsets[g + 1]]
        areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        for i in range(len(b)):
            for j in range(len(b)):
                out[pos] = _ovr(b[i], b[j], areas[i], areas[j])
                pos += 1
    return out


@njit(cache=True)
def _nms_kernel(boxes, scores, offsets, g0, g1, method, iou_thr, thresh, decay):  # pragma: no cover
    keep = np.empty(offsets[g1] - offsets[g0], dtype=np.int64)
    n_keep, pos = 0, 0
    for g in range(g0, g1):
        s, e = offsets[g], offsets[g + 1]
        if method == 3:
            n_keep = _nms_group(boxes[s:e], scores[s:e].copy(), iou_thr, keep, n_keep, s)
        else:
            n_keep = _soft_nms_group(
                boxes[s:e], scores[s:e], iou_thr, thresh, method, decay[pos : pos + (e - s) ** 2], keep, n_keep, s
            )
            if method == 2:
                pos += (e - s) ** 2
    return keep[:n_keep]


def _keep_rows(groups, method: int, iou_thr: float, sigma: float, thresh: float) -> np.ndarray:
    """Rows kept by (soft-)NMS; gaussian decays are evaluated by numpy in chunks of groups."""
    n_groups = len(groups.offsets) - 1
    if method != 2:
        return _nms_kernel(
            groups.boxes, groups.scores, groups.offsets, 0, n_groups, method, iou_thr, thresh, np.zeros(0)
        )
    pairs = np.cumsum(np.diff(groups.offsets) ** 2)
    parts, g0 = [], 0
    while g0 < n_groups:
        before = pairs[g0 - 1] if g0 else 0
        g1 = max(int(np.searchsorted(pairs, before + _PAIR_CHUNK, side="right")), g0 + 1)
        ovr = _pair_ovr(groups.boxes, groups.offsets, g0, g1)
        decay = np.exp(-(ovr * ovr) / sigma)
        parts.append(_nms_kernel(groups.boxes, groups.scores, groups.offsets, g0, g1, 2, iou_thr, thresh, decay))
        g0 = g1
    return np.concatenate(parts)


def _nms_scores(flat: FlatBoxes, weights) -> np.ndarray:
    if weights is None:
        return flat.scores
    w = as_weights(weights, flat.n_models)
    return flat.scores * w[flat.models] / w.sum()


def soft_nms_many(
    flat: FlatBoxes, method: int = 2, iou_thr: float = 0.5, sigma: float = 0.5, thresh: float = 0.001, weights=None
) -> FusedBoxes:
    """Soft-NMS (or NMS with ``method=3``) per image and class, for every image at once.

    Args:
        flat: all models' boxes (normalised) over all images.
        method: 1 linear, 2 gaussian soft-NMS, 3 standard NMS.
        iou_thr: overlap above which a box is suppressed (linear, NMS); unused by gaussian.
        sigma: gaussian decay ``exp(-iou^2 / sigma)``.
        thresh: keep boxes whose decayed score is above this (soft-NMS only).
        weights: one weight (> 0) per model, or None (scores unchanged).

    Returns:
        The kept boxes with their original (weighted) scores, per image class by class.

    Raises:
        ValueError: an unknown method, bad weights or thresholds.
    """
    if method not in SOFT_NMS_METHODS:
        raise ValueError(f"unknown soft-NMS method {method!r}: expected 1 (linear), 2 (gaussian) or 3 (NMS)")
    check_params(iou_thr, thresh)
    if method == 2 and not float(sigma) > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    groups = make_groups(flat, _nms_scores(flat, weights), None, sort=False)
    if len(groups.scores) == 0:
        return empty_fused()
    keep = _keep_rows(groups, int(method), float(iou_thr), float(sigma), float(thresh))
    group = np.searchsorted(groups.offsets, keep, side="right") - 1
    return FusedBoxes(groups.boxes[keep], groups.scores[keep], groups.label[group], groups.image[group])


def nms_many(flat: FlatBoxes, iou_thr: float = 0.5, weights=None) -> FusedBoxes:
    """Standard NMS per image and class for every image at once (see :func:`soft_nms_many`)."""
    return soft_nms_many(flat, method=3, iou_thr=iou_thr, weights=weights)


def _result(fused: FusedBoxes):
    return fused.boxes, fused.scores, fused.labels.astype(np.float64)


def nms(boxes, scores, labels, iou_thr: float = 0.5, weights=None):
    """Drop-in for ``ensemble_boxes.nms`` on one image; returns ``(boxes, scores, labels)``."""
    return _result(nms_many(from_lists(boxes, scores, labels), iou_thr, weights))


def soft_nms(
    boxes,
    scores,
    labels,
    method: int = 2,
    iou_thr: float = 0.5,
    sigma: float = 0.5,
    thresh: float = 0.001,
    weights=None,
):
    """Drop-in for ``ensemble_boxes.soft_nms`` on one image; returns ``(boxes, scores, labels)``."""
    return _result(soft_nms_many(from_lists(boxes, scores, labels), method, iou_thr, sigma, thresh, weights))
