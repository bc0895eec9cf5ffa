"""Preprocessing, splits: K folds of labelled images, multilabel-stratified by which classes each image contains."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrdet.structures import VINDR, DatasetMeta


def presence_matrix(image_ids: list[str], boxes: pd.DataFrame, meta: DatasetMeta = VINDR) -> np.ndarray:
    """0/1 matrix (n_images, columns): which finding classes each image has, and a column for images without any.

    That column is the "no finding" class's (VinDr: 15 columns, column 14 marks normal images), or one more
    column after the classes when the data set has no such class.
    """
    index = {image_id: i for i, image_id in enumerate(image_ids)}
    empty_col = meta.num_classes if meta.no_finding is None else meta.no_finding
    matrix = np.zeros((len(image_ids), meta.num_classes + (meta.no_finding is None)), dtype=np.int64)
    rows = boxes["image_id"].map(index).to_numpy()
    matrix[rows, boxes["class_id"].to_numpy(np.int64)] = 1
    others = np.delete(matrix, empty_col, axis=1)
    matrix[others.sum(axis=1) == 0, empty_col] = 1
    return matrix


def stratified_folds(image_ids: list[str], boxes: pd.DataFrame, k: int, seed: int = 0,
                     meta: DatasetMeta = VINDR) -> np.ndarray:
    """Fold number (0..k-1) of each image, stratified on class presence, reproducible for a seed.

    Uses iterative stratification (Sechidis et al. 2011, ``iterstrat``) so that every class, including
    the rare ones and "No finding", is spread evenly over the folds.
    """
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    if len(image_ids) < k:
        raise ValueError(f"cannot make {k} folds from {len(image_ids)} labelled images")
    labels = presence_matrix(image_ids, boxes, meta)
    folds = np.full(len(image_ids), -1, dtype=np.int64)
    splitter = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, val) in enumerate(splitter.split(np.zeros(len(image_ids)), labels)):
        folds[val] = fold
    return folds
