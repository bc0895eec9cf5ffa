"""K-fold splits of labelled images, multilabel-stratified by which classes each image contains."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrdet.vindr import NO_FINDING, NUM_CLASSES


def presence_matrix(image_ids: list[str], boxes: pd.DataFrame) -> np.ndarray:
    """(n_images, 15) 0/1 matrix: which finding classes each image has; column 14 marks normal images."""
    index = {image_id: i for i, image_id in enumerate(image_ids)}
    matrix = np.zeros((len(image_ids), NUM_CLASSES), dtype=np.int64)
    rows = boxes["image_id"].map(index).to_numpy()
    matrix[rows, boxes["class_id"].to_numpy(np.int64)] = 1
    matrix[matrix[:, :NO_FINDING].sum(axis=1) == 0, NO_FINDING] = 1
    return matrix


def stratified_folds(image_ids: list[str], boxes: pd.DataFrame, k: int, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) of each image, stratified on class presence, reproducible for a seed.

    Uses iterative stratification (Sechidis et al. 2011, ``iterstrat``) so that every class, including
    the rare ones and "No finding", is spread evenly over the folds.
    """
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    if len(image_ids) < k:
        raise ValueError(f"cannot make {k} folds from {len(image_ids)} labelled images")
    labels = presence_matrix(image_ids, boxes)
    folds = np.full(len(image_ids), -1, dtype=np.int64)
    splitter = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, val) in enumerate(splitter.split(np.zeros(len(image_ids)), labels)):
        folds[val] = fold
    return folds
