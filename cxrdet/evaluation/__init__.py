"""Evaluation: the VinDr metric (:mod:`.voc`), COCO numbers (:mod:`.coco`), PR plots and the MMEngine metrics.

Task-model numbers are plain functions: :mod:`.classification` (accuracy, per-class precision/recall/F1,
ROC AUC, confusion matrix, the classification report) and :mod:`.regression` (bone-age MAD/RMSE, sex
accuracy, MAD per age group; plot in :mod:`.plots_bone_age`).

``VinDrMetric`` (:mod:`.metric`), ``ClassificationMetric`` and ``BoneAgeMetric`` (:mod:`.task_metrics`) register
themselves in ``cxrdet.registry.METRICS``, whose ``locations`` name those modules. Their import pulls in torch
through mmengine's ``BaseMetric``, so they are imported here only when mmengine's registry is already loaded
(true whenever a config is being built); plain metric use (``cxrdet evaluate``) stays light.
``import cxrdet.evaluation.metric`` / ``cxrdet.evaluation.task_metrics`` registers them explicitly.
"""

import sys

from cxrdet.evaluation.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
    precision_recall_f1,
    roc_auc,
)
from cxrdet.evaluation.regression import age_group_errors, bone_age_errors, mad, rmse, sex_accuracy

if "mmengine.registry" in sys.modules:
    from cxrdet.evaluation import (
        metric,  # noqa: F401  (registers VinDrMetric)
        task_metrics,  # noqa: F401  (registers ClassificationMetric, BoneAgeMetric)
    )

__all__ = [
    "accuracy",
    "age_group_errors",
    "bone_age_errors",
    "classification_report",
    "confusion_matrix",
    "mad",
    "precision_recall_f1",
    "rmse",
    "roc_auc",
    "sex_accuracy",
]
