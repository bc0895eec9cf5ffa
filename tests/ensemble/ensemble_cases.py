"""Seeded random inputs for the ensembling tests and the comparison with ensemble-boxes (the oracle)."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np

from cxrdet.ops.arrays import FlatBoxes

KINDS = ("plain", "rounded", "duplicates", "border", "messy")


def make_case(seed: int, kind: str = "plain", n_models: int | None = None, n_boxes: int = 30, n_labels: int = 3):
    """One image's per-model (boxes, scores, labels) lists, normalised coordinates.

    Kinds: ``plain`` (continuous values), ``rounded`` (scores and coordinates rounded: many ties),
    ``duplicates`` (identical boxes and scores across and within models), ``border`` (boxes touching or
    crossing the image border, some fully outside), ``messy`` (also inverted and zero-area boxes, zero
    scores, empty models).
    """
    rng = np.random.default_rng(seed)
    m = int(n_models if n_models is not None else rng.integers(1, 6))
    boxes, scores, labels = [], [], []
    base = _boxes(rng, max(n_boxes, 1))
    for _t in range(m):
        k = int(rng.integers(0, n_boxes + 1))
        if kind == "duplicates":
            pick = rng.integers(0, max(n_boxes // 4, 1), k)
            b, s = base[pick].copy(), np.round(rng.uniform(0, 1, k), 1)
        else:
            b, s = _boxes(rng, k), rng.uniform(0, 1, k)
        if kind == "rounded":
            b, s = np.round(b, 2), np.round(s, 1)
        if kind in ("border", "messy"):
            b = b * 1.3 - 0.15
            b[rng.uniform(size=k) < 0.2, 0] = 0.0
            b[rng.uniform(size=k) < 0.2, 3] = 1.0
        if kind == "messy":
            flip = rng.uniform(size=k) < 0.2
            b[flip] = b[flip][:, [2, 3, 0, 1]]
            zero = rng.uniform(size=k) < 0.1
            b[zero, 2] = b[zero, 0]
            s[rng.uniform(size=k) < 0.1] = 0.0
            if rng.uniform() < 0.2:
                b, s, k = b[:0], s[:0], 0
        boxes.append(b)
        scores.append(s)
        labels.append(rng.integers(0, n_labels, k))
    return boxes, scores, labels


def _boxes(rng, k: int) -> np.ndarray:
    c = rng.uniform(0, 1, (k, 2))
    wh = rng.uniform(0.02, 0.4, (k, 2))
    return np.concatenate([c - wh / 2, c + wh / 2], axis=1)


def copies(lists):
    """Deep copies (ensemble-boxes may modify its inputs in place)."""
    return [[np.array(a, copy=True) for a in part] for part in lists]


def oracle(fn, *args, **kwargs):
    """Calls an ensemble-boxes function silently (it warns and prints on clipped or zero-area boxes).

    Returns:
        Its result, or None where ensemble-boxes itself fails (its nms/soft_nms crash when no box is left).
    """
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            return fn(*copies(args[:3]), *args[3:], **kwargs)
        except ValueError:
            return None


def assert_same(ours, theirs, ordered: bool = True) -> None:
    """Same count and labels; boxes within 1e-4 relative, scores within 1e-6 (NaN equal to NaN)."""
    b1, s1, l1 = (np.asarray(a, dtype=np.float64) for a in ours)
    b2, s2, l2 = (np.asarray(a, dtype=np.float64) for a in theirs)
    assert len(b1) == len(b2) == len(s1) == len(s2) == len(l1) == len(l2)
    if not ordered:
        key1 = np.lexsort((*np.nan_to_num(b1).T, s1, l1))
        key2 = np.lexsort((*np.nan_to_num(b2).T, s2, l2))
        b1, s1, l1, b2, s2, l2 = b1[key1], s1[key1], l1[key1], b2[key2], s2[key2], l2[key2]
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_allclose(b1.reshape(-1, 4), b2.reshape(-1, 4), rtol=1e-4, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-6, equal_nan=True)


def stack_images(cases, seed: int = 0) -> FlatBoxes:
    """Several images' lists as one FlatBoxes, rows of different images interleaved at random
    (keeping each model's row order within an image)."""
    parts = []
    for i, (boxes, scores, labels) in enumerate(cases):
        for t, (b, s, lab) in enumerate(zip(boxes, scores, labels)):
            parts.append((np.asarray(b).reshape(-1, 4), s, lab, np.full(len(s), t), np.full(len(s), i)))
    cat = [np.concatenate([p[k] for p in parts]) for k in range(5)]
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.uniform(size=len(cat[0])), kind="stable")
    key = cat[4][order] * 100 + cat[3][order]
    # stable re-sort per (image, model) keeps the within-model row order while images interleave
    within = np.empty(len(order), dtype=np.int64)
    for k in np.unique(key):
        pos = np.flatnonzero(key == k)
        within[pos] = np.sort(order[pos])
    n_models = max(len(c[0]) for c in cases)
    return FlatBoxes(
        cat[0][within], cat[1][within], cat[2][within], cat[3][within], cat[4][within], n_models, len(cases)
    )
