"""Fusion kernels, data: the flat arrays every kernel takes (:class:`FlatBoxes`) and returns (:class:`FusedBoxes`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FlatBoxes:
    """Boxes of several models over several images, one row per box.

    Attributes:
        boxes: (N, 4) float64 ``x1, y1, x2, y2`` normalised to ``[0, 1]``.
        scores: (N,) float64 confidences.
        labels: (N,) int64 class ids.
        models: (N,) int64 model index in ``[0, n_models)``.
        images: (N,) int64 image index in ``[0, n_images)``.
        n_models: number of models (a model may have no rows).
        n_images: number of images (an image may have no rows).
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    models: np.ndarray
    images: np.ndarray
    n_models: int
    n_images: int

    def __post_init__(self) -> None:
        self.boxes = np.ascontiguousarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.scores = np.ascontiguousarray(self.scores, dtype=np.float64).reshape(-1)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.int64).reshape(-1)
        self.models = np.ascontiguousarray(self.models, dtype=np.int64).reshape(-1)
        self.images = np.ascontiguousarray(self.images, dtype=np.int64).reshape(-1)
        n = len(self.boxes)
        for name in ("scores", "labels", "models", "images"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{n} boxes but {len(getattr(self, name))} {name}")
        if n and not (np.isfinite(self.boxes).all() and np.isfinite(self.scores).all()):
            raise ValueError("boxes and scores must be finite (found NaN or inf)")
        for name, limit in (("models", self.n_models), ("images", self.n_images)):
            values = getattr(self, name)
            if n and (values.min() < 0 or values.max() >= limit):
                raise ValueError(f"{name} must lie in [0, {limit})")

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass
class FusedBoxes:
    """Result of a fusion over many images, rows grouped by image (ascending), each image in the order
    ``ensemble_boxes`` returns it.

    Attributes:
        boxes: (K, 4) float64 normalised xyxy.
        scores: (K,) float64.
        labels: (K,) int64.
        images: (K,) int64 image index.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    images: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


def from_lists(boxes_list, scores_list, labels_list) -> FlatBoxes:
    """One image's per-model lists (``ensemble_boxes``' input) as a :class:`FlatBoxes`.

    Raises:
        ValueError: lengths of boxes, scores and labels of a model differ, or a value is not finite.
    """
    if not (len(boxes_list) == len(scores_list) == len(labels_list)):
        raise ValueError(f"{len(boxes_list)} box lists, {len(scores_list)} score lists, {len(labels_list)} label lists")
    parts = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))]
    for t, (b, s, lab) in enumerate(zip(boxes_list, scores_list, labels_list)):
        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
        s = np.asarray(s, dtype=np.float64).reshape(-1)
        lab = np.asarray(lab, dtype=np.float64).reshape(-1)  # ensemble-boxes takes int(label)
        if not (len(b) == len(s) == len(lab)):
            raise ValueError(f"model {t}: {len(b)} boxes, {len(s)} scores, {len(lab)} labels")
        parts.append((b, s, lab.astype(np.int64), np.full(len(b), t, dtype=np.int64)))
    boxes, scores, labels, models = (np.concatenate([p[k] for p in parts]) for k in range(4))
    return FlatBoxes(
        boxes, scores, labels, models, np.zeros(len(scores), np.int64), n_models=max(len(boxes_list), 1), n_images=1
    )


def as_weights(weights, n_models: int) -> np.ndarray:
    """Model weights as float64, ones when None.

    Raises:
        ValueError: wrong count, or a weight that is not finite and > 0.
    """
    if weights is None:
        return np.ones(n_models)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != n_models:
        raise ValueError(f"{len(w)} weights for {n_models} models")
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise ValueError(f"weights must be finite and > 0, got {w.tolist()}")
    return w


def empty_fused() -> FusedBoxes:
    """A result without rows."""
    return FusedBoxes(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))
