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


def test_groups_never_straddle_folds_and_do_not_depend_on_key_values():
    from cxrdet.preprocess.splits import group_numbers

    ids, boxes = make(n=90, seed=2)
    keys = [f"patient{i // 3}" if i % 10 else None for i in range(len(ids))]  # 3 images a patient, some unknown
    groups = group_numbers(ids, keys)
    assert groups[0] != groups[10] and groups[1] == groups[2]
    renamed = group_numbers(ids, [None if k is None else "h" + k[::-1] for k in keys])
    np.testing.assert_array_equal(groups, renamed)  # only which images share a key counts
    folds = stratified_folds(ids, boxes, 4, seed=1, groups=groups)
    assert sorted(set(folds)) == [0, 1, 2, 3]
    for g in set(groups):
        assert len(set(folds[groups == g])) == 1
    np.testing.assert_array_equal(folds, stratified_folds(ids, boxes, 4, seed=1, groups=renamed))
    import pytest

    few = group_numbers(ids[:9], ["a"] * 3 + ["b"] * 3 + ["c"] * 3)
    with pytest.raises(ValueError, match="3 groups"):
        stratified_folds(ids[:9], boxes[boxes.image_id.isin(ids[:9])], 4, groups=few)
