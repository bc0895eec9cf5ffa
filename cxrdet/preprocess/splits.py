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


def group_numbers(image_ids: list[str], keys) -> np.ndarray:
    """Group number of each image: images with the same key share one, an image without a key (None) is alone.

    Groups are numbered in order of their first image in ``image_ids``, so the numbers (and the folds made
    from them) do not depend on the key values, only on which images share one.
    """
    keys = list(keys)
    if len(keys) != len(image_ids):
        raise ValueError(f"{len(keys)} group keys for {len(image_ids)} images")
    filled = [("key", k) if k is not None else ("image", i) for i, k in zip(image_ids, keys)]
    return pd.factorize(pd.Series([f"{a}:{b}" for a, b in filled]), sort=False)[0].astype(np.int64)


def stratified_folds(
    image_ids: list[str],
    boxes: pd.DataFrame,
    k: int,
    seed: int = 0,
    meta: DatasetMeta = VINDR,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Fold number (0..k-1) of each image, stratified on class presence, reproducible for a seed.

    Uses iterative stratification (Sechidis et al. 2011, ``iterstrat``) so that every class, including
    the rare ones and "No finding", is spread evenly over the folds.

    Args:
        image_ids: the labelled images.
        boxes: their fused boxes (image_id, class_id).
        k: number of folds.
        seed: shuffling seed.
        meta: the data set (its classes and "no finding" class).
        groups: optional group number per image (:func:`group_numbers`): all images of a group land in
            the same fold (the groups, with the union of their images' classes, are what is stratified).

    Raises:
        ValueError: fewer than 2 folds, or fewer images (groups) than folds.
    """
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    if len(image_ids) < k:
        raise ValueError(f"cannot make {k} folds from {len(image_ids)} labelled images")
    labels = presence_matrix(image_ids, boxes, meta)
    if groups is not None:
        groups = np.asarray(groups, dtype=np.int64)
        n_groups = int(groups.max()) + 1 if len(groups) else 0
        if n_groups < k:
            raise ValueError(f"cannot make {k} folds from {n_groups} groups of labelled images")
        per_group = np.zeros((n_groups, labels.shape[1]), np.int64)
        np.maximum.at(per_group, groups, labels)
        group_folds = _split(per_group, k, seed)
        return group_folds[groups]
    return _split(labels, k, seed)


def _split(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    folds = np.full(len(labels), -1, dtype=np.int64)
    splitter = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, val) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[val] = fold
    return folds
