"""Sensitivity, specificity and balanced accuracy (cxrdet.evaluation.classification) against scikit-learn and by
hand, including the undefined cases (no positive / no negative image)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as sk

from cxrdet.evaluation.classification import balanced_accuracy, sensitivity_specificity, specificity


def test_binary_rates_by_hand() -> None:
    # truth 1 1 1 0 0 0 0, predicted 1 0 1 0 1 0 0: tp 2, fn 1, tn 3, fp 1
    sens, spec = sensitivity_specificity([1, 1, 1, 0, 0, 0, 0], [1, 0, 1, 0, 1, 0, 0])
    assert sens == pytest.approx(2 / 3) and spec == pytest.approx(3 / 4)
    assert balanced_accuracy([1, 1, 1, 0, 0, 0, 0], [1, 0, 1, 0, 1, 0, 0]) == pytest.approx((2 / 3 + 3 / 4) / 2)


@pytest.mark.parametrize("seed", range(6))
def test_rates_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 2 + seed % 3
    y, pred = rng.integers(0, k, 50), rng.integers(0, k, 50)
    labels = list(range(k))
    assert balanced_accuracy(y, pred, labels) == pytest.approx(sk.balanced_accuracy_score(y, pred))
    mcm = sk.multilabel_confusion_matrix(y, pred, labels=labels)
    np.testing.assert_allclose(specificity(y, pred, labels), mcm[:, 0, 0] / (mcm[:, 0, 0] + mcm[:, 0, 1]))
    for positive in labels:
        sens, spec = sensitivity_specificity(y, pred, positive)
        assert sens == pytest.approx(sk.recall_score(y == positive, pred == positive))
        assert spec == pytest.approx(sk.recall_score(y != positive, pred != positive))


def test_undefined_rates_are_nan_and_absent_classes_do_not_count() -> None:
    sens, spec = sensitivity_specificity([0, 0, 0], [0, 1, 0])
    assert math.isnan(sens) and spec == pytest.approx(2 / 3)
    assert math.isnan(sensitivity_specificity([1, 1], [1, 0])[1])
    # class 2 never occurs in the truth: the mean runs over classes 0 and 1 (as scikit-learn's)
    assert balanced_accuracy([0, 0, 1, 1], [0, 2, 1, 1], labels=[0, 1, 2]) == pytest.approx(0.75)
    assert math.isnan(balanced_accuracy([], []))
