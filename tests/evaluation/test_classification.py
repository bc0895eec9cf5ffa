"""cxrdet's classification numbers against scikit-learn (the independent reference) on random inputs, many seeds."""

from __future__ import annotations

import logging
import math
import re

import numpy as np
import pytest
from sklearn import metrics as sk

from cxrdet.evaluation.classification import (
    accuracy,
    average_ranks,
    classification_report,
    confusion_matrix,
    precision_recall_f1,
    roc_auc,
)


def _random(seed: int):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 6))
    n = int(rng.integers(1, 80))
    y_true = rng.integers(0, n_classes, n)
    # predictions: partly right, partly random, sometimes a class never predicted
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(0, n_classes, n))
    if seed % 4 == 0:
        y_pred[y_pred == n_classes - 1] = 0
    return y_true, y_pred, n_classes


@pytest.mark.parametrize("seed", range(60))
def test_against_sklearn(seed):
    y_true, y_pred, n_classes = _random(seed)
    labels = list(range(n_classes))
    assert accuracy(y_true, y_pred) == pytest.approx(sk.accuracy_score(y_true, y_pred), abs=1e-12)
    assert np.array_equal(confusion_matrix(y_true, y_pred, labels), sk.confusion_matrix(y_true, y_pred, labels=labels))
    assert np.array_equal(confusion_matrix(y_true, y_pred), sk.confusion_matrix(y_true, y_pred))
    per = precision_recall_f1(y_true, y_pred, labels)
    p, r, f, s = sk.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    assert np.allclose(per.precision, p, atol=1e-12) and np.allclose(per.recall, r, atol=1e-12)
    assert np.allclose(per.f1, f, atol=1e-12) and np.array_equal(per.support, s)
    for kind in ("macro", "weighted"):
        ref = sk.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=kind, zero_division=0)[:3]
        assert np.allclose(per.average(kind), ref, atol=1e-12), kind


def _report_numbers(text: str) -> dict[str, list[float]]:
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\s*(.+?)\s{2,}([\d.\s]+)$", line)
        if match and "precision" not in line:
            rows[match.group(1).strip()] = [float(v) for v in match.group(2).split()]
    return rows


@pytest.mark.parametrize("seed", range(20))
def test_report_numbers_match_sklearn(seed):
    y_true, y_pred, n_classes = _random(100 + seed)
    labels = list(range(n_classes))
    names = [f"class_{k}" if k % 2 else f"c{k}" for k in labels]
    ours = _report_numbers(classification_report(y_true, y_pred, labels, names, digits=4))
    ref = sk.classification_report(
        y_true, y_pred, labels=labels, target_names=names, digits=4, output_dict=True, zero_division=0
    )
    for name in names + ["macro avg", "weighted avg"]:
        values = ref[name]
        expected = [values["precision"], values["recall"], values["f1-score"], values["support"]]
        assert np.allclose(ours[name], expected, atol=6e-5), name
    assert ours["accuracy"] == pytest.approx([ref["accuracy"], len(y_true)], abs=6e-5)


def test_report_text_is_sklearns_layout():
    y_true = [0, 1, 2, 2, 2, 1, 0, 0]
    y_pred = [0, 0, 2, 2, 1, 1, 0, 2]
    names = ["normal", "fractured", "other"]
    ours = classification_report(y_true, y_pred, [0, 1, 2], names)
    assert ours == sk.classification_report(y_true, y_pred, labels=[0, 1, 2], target_names=names, zero_division=0)


@pytest.mark.parametrize("seed", range(60))
def test_roc_auc_against_sklearn_with_ties(seed):
    rng = np.random.default_rng(500 + seed)
    n = int(rng.integers(2, 120))
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1  # both classes present
    scores = rng.random(n) + 0.4 * y
    if seed % 2:
        scores = np.round(scores * 4) / 4  # many ties, also across classes
    assert roc_auc(y, scores) == pytest.approx(sk.roc_auc_score(y, scores), abs=1e-12)
    assert roc_auc(y.astype(bool), scores) == pytest.approx(sk.roc_auc_score(y, scores), abs=1e-12)


def test_roc_auc_hand_cases():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5  # one tie: half a win
    assert roc_auc([1, 0], [0.9, 0.1]) == 1.0


def test_average_ranks_hand_case():
    assert average_ranks(np.array([10.0, 20.0, 10.0, 30.0, 20.0])).tolist() == [1.5, 3.5, 1.5, 5.0, 3.5]


def test_one_class_auc_is_nan_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="cxrdet.evaluation.classification"):
        assert math.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert "only one class" in caplog.text


def test_empty_and_bad_inputs():
    assert math.isnan(accuracy([], []))
    assert confusion_matrix([], [], [0, 1]).tolist() == [[0, 0], [0, 0]]
    empty = precision_recall_f1([], [], [0, 1])
    assert empty.support.tolist() == [0, 0] and empty.average("weighted") == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="y_true has 2 values"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="binary"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="class indices"):
        accuracy([0.5, 1], [0, 1])
