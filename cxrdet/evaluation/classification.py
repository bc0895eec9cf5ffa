"""Evaluation, classification: accuracy, per-class precision/recall/F1, sensitivity/specificity, balanced
accuracy, confusion matrix, ROC AUC, the report.

Plain functions over numpy arrays of class indices (and scores), the numbers the fracture CNNs and the VinDr
normal/abnormal classifier report; :class:`~cxrdet.evaluation.task_metrics.ClassificationMetric` wraps them
for the Runner. Conventions follow scikit-learn's defaults: a precision, recall or F1 whose denominator is
zero is 0; the averages run over ``labels`` (all classes seen in truth or prediction unless given).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


def _indices(values, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if (
        arr.size
        and not np.issubdtype(arr.dtype, np.integer)
        and (not np.all(np.isfinite(arr.astype(np.float64))) or not np.all(arr == np.round(arr)))
    ):
        raise ValueError(f"{what} must be class indices (integers)")
    return arr.astype(np.int64)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = _indices(y_true, "y_true"), _indices(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values, y_pred {p.size}")
    return t, p


def _labels(t: np.ndarray, p: np.ndarray, labels: Sequence[int] | None) -> np.ndarray:
    if labels is None:
        return np.union1d(t, p).astype(np.int64)
    return np.asarray(list(labels), dtype=np.int64)


def accuracy(y_true, y_pred) -> float:
    """Share of correct predictions (nan for no samples)."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p)) if t.size else math.nan


def confusion_matrix(y_true, y_pred, labels: Sequence[int] | None = None) -> np.ndarray:
    """``(n_labels, n_labels)`` counts: row = true class, column = predicted class, in ``labels`` order.

    Samples whose true or predicted class is not in ``labels`` are not counted.
    """
    t, p = _pair(y_true, y_pred)
    labs = _labels(t, p, labels)
    index = {int(c): i for i, c in enumerate(labs)}
    ti = np.array([index.get(int(v), -1) for v in t], dtype=np.int64)
    pi = np.array([index.get(int(v), -1) for v in p], dtype=np.int64)
    keep = (ti >= 0) & (pi >= 0)
    out = np.zeros((len(labs), len(labs)), dtype=np.int64)
    np.add.at(out, (ti[keep], pi[keep]), 1)
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True)
class PerClass:
    """Per-class scores in ``labels`` order (each an array of ``len(labels)``)."""

    labels: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    def average(self, kind: str) -> tuple[float, float, float]:
        """``(precision, recall, f1)`` averaged: ``'macro'`` (plain mean) or ``'weighted'`` (by support)."""
        if kind == "macro":
            if not len(self.labels):
                return math.nan, math.nan, math.nan
            return float(self.precision.mean()), float(self.recall.mean()), float(self.f1.mean())
        if kind == "weighted":
            total = float(self.support.sum())
            if total == 0:
                return 0.0, 0.0, 0.0
            w = self.support / total
            return float(w @ self.precision), float(w @ self.recall), float(w @ self.f1)
        raise ValueError(f"unknown average {kind!r}: expected 'macro' or 'weighted'")


def precision_recall_f1(y_true, y_pred, labels: Sequence[int] | None = None) -> PerClass:
    """Per-class precision, recall, F1 and support (true count) from the confusion matrix.

    F1 is ``2 tp / (2 tp + fp + fn)``; a zero denominator gives 0 (scikit-learn's default).
    """
    t, p = _pair(y_true, y_pred)
    labs = _labels(t, p, labels)
    tp = np.array([np.sum((t == c) & (p == c)) for c in labs], dtype=np.int64)
    pred_count = np.array([np.sum(p == c) for c in labs], dtype=np.int64)
    support = np.array([np.sum(t == c) for c in labs], dtype=np.int64)
    fp, fn = pred_count - tp, support - tp
    return PerClass(
        labels=labs,
        precision=_ratio(tp, pred_count),
        recall=_ratio(tp, support),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        support=support,
    )


def specificity(y_true, y_pred, labels: Sequence[int] | None = None) -> np.ndarray:
    """Per-class one-vs-rest specificity ``tn / (tn + fp)`` in ``labels`` order (0 where nothing is negative).

    For two classes the specificity of class 1 is the recall of class 0 (the negatives correctly called negative).
    """
    t, p = _pair(y_true, y_pred)
    labs = _labels(t, p, labels)
    tn = np.array([np.sum((t != c) & (p != c)) for c in labs], dtype=np.int64)
    negatives = np.array([np.sum(t != c) for c in labs], dtype=np.int64)
    return _ratio(tn, negatives)


def sensitivity_specificity(y_true, y_pred, positive: int = 1) -> tuple[float, float]:
    """``(sensitivity, specificity)`` of the class ``positive`` against all others.

    Sensitivity is the positive class's recall ``tp / (tp + fn)``, specificity ``tn / (tn + fp)``; each is nan
    when its denominator is zero (no positive, or no negative, image).
    """
    t, p = _pair(y_true, y_pred)
    pos, called = t == positive, p == positive
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    sens = float(np.sum(pos & called)) / n_pos if n_pos else math.nan
    spec = float(np.sum(~pos & ~called)) / n_neg if n_neg else math.nan
    return sens, spec


def balanced_accuracy(y_true, y_pred, labels: Sequence[int] | None = None) -> float:
    """Mean per-class recall over the classes of ``labels`` that occur in the truth (scikit-learn's
    ``balanced_accuracy_score``); nan when none occurs."""
    t, p = _pair(y_true, y_pred)
    per = precision_recall_f1(t, p, labels)
    present = per.support > 0
    return float(per.recall[present].mean()) if present.any() else math.nan


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` with ties given the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]  # exclusive
    mean_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(y_true, scores) -> float:
    """Binary ROC AUC (Mann-Whitney U / (n_pos n_neg), ties counted one half).

    Args:
        y_true: 0/1 (or False/True) labels; 1 is the positive class.
        scores: the positive class's scores (higher = more positive), finite.

    Returns:
        The AUC, or nan (with a warning logged) when only one class is present.

    Raises:
        ValueError: lengths differ, labels other than 0/1, or non-finite scores.
    """
    t = _indices(np.asarray(y_true).astype(np.int64) if np.asarray(y_true).dtype == bool else y_true, "y_true")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if t.shape != s.shape:
        raise ValueError(f"y_true has {t.size} values, scores {s.size}")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("roc_auc needs binary labels 0/1")
    if not np.isfinite(s).all():
        raise ValueError("roc_auc: scores must be finite")
    n_pos = int(t.sum())
    n_neg = int(t.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        log.warning("ROC AUC is undefined with only one class present (%d positive, %d negative): nan", n_pos, n_neg)
        return math.nan
    ranks = average_ranks(s)
    u = ranks[t == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def classification_report(
    y_true,
    y_pred,
    labels: Sequence[int] | None = None,
    target_names: Sequence[str] | None = None,
    digits: int = 2,
) -> str:
    """A text table as scikit-learn's ``classification_report``: one row per class, accuracy, averages.

    Args:
        y_true: true class indices.
        y_pred: predicted class indices.
        labels: the classes to list (default: those in truth or prediction).
        target_names: a name per label (default: the label numbers).
        digits: decimals of the scores.
    """
    t, p = _pair(y_true, y_pred)
    per = precision_recall_f1(t, p, labels)
    names = [str(c) for c in per.labels] if target_names is None else [str(n) for n in target_names]
    if len(names) != len(per.labels):
        raise ValueError(f"{len(names)} target names for {len(per.labels)} labels")
    heading = "weighted avg"
    width = max([len(heading), digits, *(len(n) for n in names)])
    headers = ("precision", "recall", "f1-score", "support")
    lines = ["{:>{w}s} ".format("", w=width) + "".join(f" {h:>9}" for h in headers), ""]
    row = "{:>{w}s} " + " {:>9.{d}f}" * 3 + " {:>9}"
    for i, name in enumerate(names):
        lines.append(
            row.format(name, per.precision[i], per.recall[i], per.f1[i], int(per.support[i]), w=width, d=digits)
        )
    lines.append("")
    total = int(per.support.sum())
    acc = accuracy(t, p) if t.size else math.nan
    lines.append("{:>{w}s} ".format("accuracy", w=width) + f" {'':>9} {'':>9} {acc:>9.{digits}f} {total:>9}")
    for kind in ("macro", "weighted"):
        pr, rc, f1 = per.average(kind)
        lines.append(row.format(f"{kind} avg", pr, rc, f1, total, w=width, d=digits))
    return "\n".join(lines) + "\n"
