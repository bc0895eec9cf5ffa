"""Evaluation inside mmengine loops for the task models: ``ClassificationMetric`` and ``BoneAgeMetric``.

Thin :class:`mmengine.evaluator.BaseMetric` wrappers over the plain functions of
:mod:`cxrdet.evaluation.classification` and :mod:`cxrdet.evaluation.regression`, registered in cxrdet's
METRICS. They read the data samples the Evaluator passes (``data_sample.to_dict()``, or the elements
themselves): ``gt_label`` / ``pred_score`` / ``pred_label`` for classifiers, ``gt_age`` / ``gt_male`` /
``pred_age`` / ``pred_male`` for TJ-Net. Every result is a plain float (nan where a number is undefined).
Checkpoint keys: ``cls/accuracy`` (rule greater), ``cls/auc`` (greater), ``bone_age/MAD_months`` (less).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from cxrdet.evaluation.classification import (
    accuracy,
    balanced_accuracy,
    classification_report,
    confusion_matrix,
    precision_recall_f1,
    roc_auc,
    sensitivity_specificity,
    specificity,
)
from cxrdet.evaluation.plots_bone_age import AGE_GROUP_PLOT, plot_age_group_error
from cxrdet.evaluation.regression import AgeGroupError, age_group_errors, bone_age_errors, sex_accuracy
from cxrdet.registry import METRICS


def _get(sample: Any, key: str, default: Any = None) -> Any:
    if isinstance(sample, dict):
        return sample.get(key, default)
    return getattr(sample, key, default)


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _scalar(value: Any) -> float:
    return math.nan if value is None else float(_numpy(value).reshape(-1)[0])


def recall_key(class_name: str) -> str:
    """A class name as a metric-key suffix: ``'Nodule/Mass'`` -> ``Nodule_Mass`` (no ``/`` in a key's tail)."""
    return re.sub(r"[^0-9A-Za-z_-]+", "_", str(class_name)).strip("_") or "class"


@METRICS.register_module()
class ClassificationMetric(BaseMetric):
    """Accuracy, macro precision/recall/F1, sensitivity/specificity, balanced accuracy, per-class recall, the binary
    ROC AUC and a classification report.

    Keys (with the prefix): ``accuracy``, ``f1``, ``precision``, ``recall`` (macro averages over every
    class of the data set), ``balanced_accuracy`` (mean recall of the classes present in the truth),
    ``sensitivity`` and ``specificity`` (two classes: of class 1, nan when the truth lacks positives or
    negatives; more classes: macro averages of the one-vs-rest values), ``recall_<class>`` per class (the class
    name with characters other than letters, digits, ``_`` and ``-`` replaced by ``_``) and, for two classes,
    ``auc`` (score of class 1; from the predicted labels when the samples carry no ``pred_score``; nan with a
    warning when the truth has one class). After each evaluation
    :attr:`last_report` holds the per-class text table (as scikit-learn's ``classification_report``) and
    :attr:`last_confusion` the confusion matrix; the report is also logged.

    Args:
        prefix: the key prefix (default ``cls``).
        num_classes: the number of classes; default: the data set's ``classes``, else the score length.
        digits: decimals of the report.
        collect_device: ``'cpu'`` or ``'gpu'`` (mmengine's result collection).
    """

    default_prefix = "cls"

    def __init__(
        self, prefix: str | None = None, num_classes: int | None = None, digits: int = 2, collect_device: str = "cpu"
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.digits = int(digits)
        self.last_report = ""
        self.last_confusion: np.ndarray | None = None

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keeps each sample's true class, predicted class and scores."""
        for sample in data_samples:
            gt = _get(sample, "gt_label")
            if gt is None:
                raise KeyError("ClassificationMetric: a data sample has no gt_label")
            score = _get(sample, "pred_score")
            score = None if score is None else _numpy(score).reshape(-1)
            label = _get(sample, "pred_label")
            if label is None:
                if score is None:
                    raise KeyError("ClassificationMetric: a data sample has neither pred_label nor pred_score")
                label = int(np.argmax(score))
            self.results.append({"gt": int(_scalar(gt)), "pred": int(_scalar(label)), "score": score})

    def _class_names(self, n: int) -> list[str]:
        classes = (self.dataset_meta or {}).get("classes")
        if classes is not None and len(classes) == n:
            return [str(c) for c in classes]
        return [str(k) for k in range(n)]

    def _recall_keys(self, n: int) -> list[str]:
        return [f"recall_{recall_key(name)}" for name in self._class_names(n)]

    def _num_classes(self, results: list[dict]) -> int:
        if self.num_classes is not None:
            return self.num_classes
        classes = (self.dataset_meta or {}).get("classes")
        if classes is not None:
            return len(classes)
        widths = [len(r["score"]) for r in results if r["score"] is not None]
        if widths:
            return max(widths)
        return max(max(r["gt"], r["pred"]) for r in results) + 1

    def compute_metrics(self, results: list) -> dict[str, float]:
        """The metrics over all processed samples (nan for an empty set)."""
        if not results:
            self.last_report, self.last_confusion = "", None
            keys = ("accuracy", "f1", "precision", "recall", "balanced_accuracy", "sensitivity", "specificity")
            out = dict.fromkeys(keys, math.nan)
            n = self.num_classes or len((self.dataset_meta or {}).get("classes") or ())
            out.update(dict.fromkeys(self._recall_keys(n), math.nan))
            if n == 2:
                out["auc"] = math.nan
            return out
        n = self._num_classes(results)
        labels = list(range(n))
        gt = np.array([r["gt"] for r in results], np.int64)
        pred = np.array([r["pred"] for r in results], np.int64)
        per = precision_recall_f1(gt, pred, labels)
        precision, recall, f1 = per.average("macro")
        out = {"accuracy": accuracy(gt, pred), "f1": f1, "precision": precision, "recall": recall}
        out["balanced_accuracy"] = balanced_accuracy(gt, pred, labels)
        if n == 2:
            out["sensitivity"], out["specificity"] = sensitivity_specificity(gt, pred, positive=1)
        else:
            out["sensitivity"], out["specificity"] = recall, float(specificity(gt, pred, labels).mean())
        out.update(zip(self._recall_keys(n), (float(r) for r in per.recall)))
        if n == 2:
            scores = [r["score"] for r in results]
            if all(s is not None and len(s) == 2 for s in scores):
                out["auc"] = roc_auc(gt == 1, np.array([s[1] for s in scores]))
            else:
                out["auc"] = roc_auc(gt == 1, pred.astype(np.float64))  # hard labels: one operating point
        self.last_confusion = confusion_matrix(gt, pred, labels)
        self.last_report = classification_report(gt, pred, labels, self._class_names(n), self.digits)
        print_log(f"classification report ({len(gt)} images):\n{self.last_report}", logger="current")
        return {k: float(v) for k, v in out.items()}


@METRICS.register_module()
class BoneAgeMetric(BaseMetric):
    """MAD and RMSE of the predicted bone age (months and years), sex accuracy, MAD per age group.

    Keys (with the prefix): ``MAD_months``, ``RMSE_months``, ``MAD_years``, ``RMSE_years`` and
    ``sex_accuracy`` (images with a known sex; ``P(male) >= 0.5`` counts as male). After each evaluation
    :attr:`last_groups` holds the per-age-group errors; with ``plot_dir`` they are drawn to
    ``plot_dir/age_group_error.png``.

    Args:
        prefix: the key prefix (default ``bone_age``).
        plot_dir: folder of the age-group plot (None: no plot).
        group_years: width of the age groups (1 or 2 years).
        collect_device: ``'cpu'`` or ``'gpu'``.
    """

    default_prefix = "bone_age"

    def __init__(
        self,
        prefix: str | None = None,
        plot_dir: str | None = None,
        group_years: float = 1.0,
        collect_device: str = "cpu",
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not group_years > 0:
            raise ValueError(f"group_years must be positive, got {group_years!r}")
        self.plot_dir = None if plot_dir is None else str(plot_dir)
        self.group_years = float(group_years)
        self.last_groups: list[AgeGroupError] = []

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keeps each sample's predicted and true age and sex."""
        for sample in data_samples:
            gt_age, pred_age = _get(sample, "gt_age"), _get(sample, "pred_age")
            if gt_age is None or pred_age is None:
                raise KeyError("BoneAgeMetric: a data sample lacks gt_age or pred_age")
            self.results.append(
                {
                    "gt_age": _scalar(gt_age),
                    "pred_age": _scalar(pred_age),
                    "gt_male": _scalar(_get(sample, "gt_male")),
                    "pred_male": _scalar(_get(sample, "pred_male")),
                }
            )

    def compute_metrics(self, results: list) -> dict[str, float]:
        """The metrics over all processed samples (nan for an empty set)."""
        pred = np.array([r["pred_age"] for r in results], np.float64)
        true = np.array([r["gt_age"] for r in results], np.float64)
        out = bone_age_errors(pred, true)
        out["sex_accuracy"] = sex_accuracy([r["pred_male"] for r in results], [r["gt_male"] for r in results])
        self.last_groups = age_group_errors(pred, true, self.group_years) if len(results) else []
        table = "\n".join(
            f"  {g.low_years:4g}-{g.high_years:<4g} y: MAD {g.mad_months:7.2f} months (n={g.count})"
            for g in self.last_groups
        )
        print_log(f"bone age error per age group ({len(results)} images):\n{table}", logger="current")
        if self.plot_dir is not None:
            plot_age_group_error(self.last_groups, Path(self.plot_dir) / AGE_GROUP_PLOT, out["MAD_months"])
        return {k: float(v) for k, v in out.items()}
