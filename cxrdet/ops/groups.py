"""Fusion kernels, shared step: many images' boxes as flat arrays, grouped per (image, class) in ensemble-boxes' order.

Every fusion kernel (:mod:`cxrdet.ops.wbf`, :mod:`cxrdet.ops.nms`) takes a :class:`FlatBoxes`
(normalised ``[0, 1]`` xyxy boxes of all models and images in one set of arrays) and reproduces
``ensemble_boxes`` run image by image. The order in which ``ensemble_boxes`` visits boxes is part of its
result, so this module rebuilds it exactly: within one image and class, boxes are listed model by model
in input row order, then sorted with ``numpy.argsort(...)[::-1]`` (whose tie order is numpy's own).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numba import njit

from cxrdet.ops.arrays import FlatBoxes
from cxrdet.ops.order import desc_order

log = logging.getLogger(__name__)

_DENSE_LABEL_LIMIT = 256  # non-negative labels below this are used directly as group codes


@njit(cache=True, inline="always")
def _checked(boxes, i):  # pragma: no cover - compiled
    """ensemble-boxes' box checks: swap min/max, clip to [0, 1]; also says whether it clipped."""
    x1, y1, x2, y2 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
    if x2 < x1:
        x1, x2 = x2, x1
    if y2 < y1:
        y1, y2 = y2, y1
    outside = min(x1, y1) < 0.0 or max(x2, y2) > 1.0
    if outside:
        x1, y1 = min(max(x1, 0.0), 1.0), min(max(y1, 0.0), 1.0)
        x2, y2 = min(max(x2, 0.0), 1.0), min(max(y2, 0.0), 1.0)
    return x1, y1, x2, y2, outside


@njit(cache=True)
def _counting_order(rows, keys, n_keys):  # pragma: no cover - compiled
    """Stable counting sort of ``rows`` by ``keys[rows]``; returns (order, offsets per key)."""
    offsets = np.zeros(n_keys + 1, dtype=np.int64)
    for i in rows:
        offsets[keys[i] + 1] += 1
    for k in range(n_keys):
        offsets[k + 1] += offsets[k]
    pos = offsets[:-1].copy()
    out = np.empty(len(rows), dtype=np.int64)
    for i in rows:
        out[pos[keys[i]]] = i
        pos[keys[i]] += 1
    return out, offsets


@njit(cache=True)
def _group_rows(
    boxes, scores, codes, models, images, n_models, n_lab, n_images, thr, use_thr, one_pass
):  # pragma: no cover - compiled
    """Kept rows (score >= thr, non-zero area after the checks) ordered by (image, class, model, row).

    Returns the order, the offsets of each (image, class) key and the number of clipped boxes.
    """
    n = len(scores)
    keys = np.empty(n, dtype=np.int64)
    keep = np.empty(n, dtype=np.int64)
    n_keep, n_clipped = 0, 0
    for i in range(n):
        keys[i] = (images[i] * n_lab + codes[i]) * (n_models if one_pass else 1) + (models[i] if one_pass else 0)
        if use_thr and scores[i] < thr:
            continue
        x1, y1, x2, y2, outside = _checked(boxes, i)
        n_clipped += outside
        if (x2 - x1) * (y2 - y1) != 0.0:
            keep[n_keep] = i
            n_keep += 1
    if one_pass:  # key (image, class, model): one stable pass
        order, offsets = _counting_order(keep[:n_keep], keys, n_images * n_lab * n_models)
        return order, offsets[::n_models].copy(), n_clipped
    by_model, _ = _counting_order(keep[:n_keep], models, n_models)
    order, offsets = _counting_order(by_model, keys, n_images * n_lab)
    return order, offsets, n_clipped


@njit(cache=True)
def _gather(order, perm, boxes, scores, models):  # pragma: no cover - compiled
    """Checked boxes, scores and models of rows ``order[perm]``."""
    n = len(perm)
    out, out_scores = np.empty((n, 4)), np.empty(n)
    out_models = np.empty(n, dtype=np.int64)
    for k in range(n):
        i = order[perm[k]]
        out[k, 0], out[k, 1], out[k, 2], out[k, 3], _ = _checked(boxes, i)
        out_scores[k] = scores[i]
        out_models[k] = models[i]
    return out, out_scores, out_models


@dataclass
class Groups:
    """Kept boxes grouped per (image, class), each group in ``ensemble_boxes``' processing order.

    Attributes:
        boxes: (K, 4) checked and clipped boxes.
        scores: (K,) model-weighted scores.
        models: (K,) model index.
        offsets: (G + 1,) group boundaries.
        image: (G,) image of each group.
        label: (G,) class id of each group.
        first: (G,) rank of the group's first box in the image's model-by-model scan (class order of
            ``ensemble_boxes``' per-class dict).
    """

    boxes: np.ndarray
    scores: np.ndarray
    models: np.ndarray
    offsets: np.ndarray
    image: np.ndarray
    label: np.ndarray
    first: np.ndarray


def _label_codes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(labels) == 0:
        return labels, np.zeros(0, np.int64)
    lo, hi = labels.min(), labels.max()
    if lo >= 0 and hi < _DENSE_LABEL_LIMIT:
        return labels, np.arange(hi + 1, dtype=np.int64)
    uniq, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64), uniq


def make_groups(flat: FlatBoxes, wscores: np.ndarray, skip_box_thr: float | None, sort: bool) -> Groups:
    """Pre-filter boxes like ``ensemble_boxes`` and group them per (image, class).

    Args:
        flat: the input boxes.
        wscores: (N,) the scores the method ranks and fuses (raw scores times model weight, etc.).
        skip_box_thr: drop boxes whose RAW score is below this; None keeps all (nms).
        sort: order each group by ``wscores`` descending with numpy's tie order (wbf, nmw); otherwise
            keep the model-by-model scan order (nms sorts inside its kernel).

    Returns:
        The groups, ordered by image then class id.
    """
    codes, uniq = _label_codes(flat.labels)
    n_lab = max(len(uniq), 1)
    one_pass = flat.n_images * n_lab * flat.n_models <= max(4 * len(flat.scores), 1 << 22)
    order, key_offsets, n_clipped = _group_rows(
        flat.boxes,
        flat.scores,
        codes,
        flat.models,
        flat.images,
        flat.n_models,
        n_lab,
        flat.n_images,
        skip_box_thr or 0.0,
        skip_box_thr is not None,
        one_pass,
    )
    if n_clipped:
        log.debug("%d boxes reach outside [0, 1]: clipped (as ensemble-boxes does)", n_clipped)
    sizes = np.diff(key_offsets)
    nonempty = np.flatnonzero(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes[nonempty])]).astype(np.int64)
    first_rows = order[offsets[:-1]]
    first = flat.models[first_rows] * (len(flat.scores) + 1) + first_rows
    perm = desc_order(wscores[order], offsets) if sort else np.arange(len(order))
    boxes, ws, models = _gather(order, perm, flat.boxes, wscores, flat.models)
    return Groups(
        boxes=boxes,
        scores=ws,
        models=models,
        offsets=offsets,
        image=nonempty // n_lab,
        label=uniq[nonempty % n_lab] if len(uniq) else nonempty,
        first=first,
    )
