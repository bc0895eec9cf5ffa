"""Multilabel-stratified folds: a partition, reproducible, and every common class in every fold."""

import numpy as np
import pandas as pd

from cxrdet.preprocess.splits import presence_matrix, stratified_folds


def make(n=120, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"img{i:03d}" for i in range(n)]
    rows = [(i, c) for i in ids for c in (0, 3, 8, 10) if rng.random() < 0.3]
    return ids, pd.DataFrame(rows, columns=["image_id", "class_id"])


def test_partition_reproducible_and_balanced():
    ids, boxes = make()
    folds = stratified_folds(ids, boxes, 5, seed=3)
    assert sorted(set(folds)) == [0, 1, 2, 3, 4] and len(folds) == len(ids)
    np.testing.assert_array_equal(folds, stratified_folds(ids, boxes, 5, seed=3))
    assert not np.array_equal(folds, stratified_folds(ids, boxes, 5, seed=4))
    presence = presence_matrix(ids, boxes)
    for c in (0, 3, 8, 10, 14):
        per_fold = [presence[folds == k, c].sum() for k in range(5)]
        assert max(per_fold) - min(per_fold) <= 2, (c, per_fold)


def test_normal_images_are_marked_class_14():
    ids = ["a", "b"]
    m = presence_matrix(ids, pd.DataFrame({"image_id": ["a"], "class_id": [8]}))
    assert m[0, 8] == 1 and m[0, 14] == 0 and m[1, 14] == 1 and m[1].sum() == 1
