"""Fusion kernels, shared step: ensemble-boxes' sort orders (numpy's argsort tie order) for many segments at once.

ensemble-boxes sorts each image and class with ``argsort()[::-1]``; numpy's default sort is not stable
(here a SIMD sort), so which of two equal scores comes first is numpy's choice, and it changes which
boxes fuse. :func:`desc_order` reproduces that choice for all groups in a few numpy calls.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit

from cxrdet.ops.arrays import FusedBoxes


@njit(cache=True)
def _bucket_values(values, starts, n):  # pragma: no cover - compiled
    """(len(starts), n) array: row r is values[starts[r]:starts[r] + n]."""
    out = np.empty((len(starts), n))
    for r in range(len(starts)):
        out[r] = values[starts[r] : starts[r] + n]
    return out


@njit(cache=True)
def _bucket_scatter(perm, starts, local):  # pragma: no cover - compiled
    """perm[start + j] = start + local[r, n - 1 - j]: the reversed ascending order of each row."""
    n = local.shape[1]
    for r in range(len(starts)):
        for j in range(n):
            perm[starts[r] + j] = starts[r] + local[r, n - 1 - j]


def desc_order(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per segment ``argsort(values[segment])[::-1]`` exactly as numpy orders ties, for all segments at once.

    Segments of equal length are stacked and sorted with one row-wise ``argsort`` per length (numpy
    sorts each row with the same routine as a 1-D array, so the tie order is numpy's own).

    Args:
        values: (N,) values in segment order.
        offsets: (S + 1,) segment boundaries.

    Returns:
        (N,) global indices: the rows of each segment in descending order.
    """
    perm = np.arange(len(values), dtype=np.int64)
    sizes = np.diff(offsets)
    starts = offsets[:-1]
    for n in np.unique(sizes):
        if n < 2:
            continue
        sel = starts[sizes == n]
        _bucket_scatter(perm, sel, _bucket_values(values, sel, n).argsort(axis=1))
    return perm


def image_offsets(images: np.ndarray, n_images: int) -> np.ndarray:
    """(n_images + 1,) boundaries of each image's rows in an array sorted by image."""
    return np.concatenate([[0], np.cumsum(np.bincount(images, minlength=n_images))]).astype(np.int64)


def final_order(fused: FusedBoxes, n_images: int, key: np.ndarray | None = None) -> np.ndarray:
    """The row order of ``ensemble_boxes``' closing ``argsort()[::-1]`` on each image's scores.

    Args:
        fused: rows grouped by image, each image in concatenation order (class dict order, then cluster).
        n_images: number of images.
        key: values to sort on when they differ from ``fused.scores`` (nmw sorts float32 scores).
    """
    return desc_order(fused.scores if key is None else key, image_offsets(fused.images, n_images))


def take_rows(fused: FusedBoxes, perm: np.ndarray | None) -> FusedBoxes:
    """``fused`` with its rows in ``perm`` order (unchanged when ``perm`` is None)."""
    if perm is None:
        return fused
    return dataclasses.replace(
        fused, boxes=fused.boxes[perm], scores=fused.scores[perm], labels=fused.labels[perm], images=fused.images[perm]
    )
