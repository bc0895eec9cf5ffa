"""Evaluation inside mmengine loops for the segmentation models: ``SegmentationMetric`` (CA-U-Net and ablations).

A thin :class:`mmengine.evaluator.BaseMetric` over :mod:`cxrdet.evaluation.segmentation`, registered in cxrdet's
METRICS. Each data sample brings ``gt_mask`` (long ``H x W``) and ``pred_mask`` (long ``H x W``, the model
input's size); their pixel confusion matrix is kept per image and summed over the data set, so the numbers are
pixel-level over all images (not means of per-image scores). Keys (prefix ``seg``): ``seg/PA``, ``seg/mIoU``,
``seg/mDice``, ``seg/IoU_<class>``, ``seg/Dice_<class>`` (class names from the data set, characters other than
letters, digits, ``_`` and ``-`` replaced by ``_``). Checkpoint key: ``seg/mIoU`` (rule greater).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from cxrdet.evaluation.segmentation import pixel_confusion, segmentation_scores
from cxrdet.registry import METRICS


def _get(sample: Any, key: str) -> Any:
    return sample.get(key) if isinstance(sample, dict) else getattr(sample, key, None)


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def key_name(class_name: str) -> str:
    """A class name as a metric-key suffix: ``'early cancer'`` -> ``early_cancer``."""
    return re.sub(r"[^0-9A-Za-z_-]+", "_", str(class_name)).strip("_") or "class"


@METRICS.register_module()
class SegmentationMetric(BaseMetric):
    """Pixel accuracy, IoU and Dice per class and their means, over every pixel of the evaluated images.

    Args:
        num_classes: the number of classes; default: the data set's ``classes``.
        ignore_index: truth value whose pixels are not scored.
        prefix: the key prefix (default ``seg``).
        collect_device: ``'cpu'`` or ``'gpu'`` (mmengine's result collection).
    """

    default_prefix = "seg"

    def __init__(
        self,
        num_classes: int | None = None,
        ignore_index: int = 255,
        prefix: str | None = None,
        collect_device: str = "cpu",
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.ignore_index = int(ignore_index)
        self.last_confusion: np.ndarray | None = None

    def _classes(self) -> list[str]:
        names = (self.dataset_meta or {}).get("classes")
        if self.num_classes is not None:
            if names is not None and len(names) == self.num_classes:
                return [str(n) for n in names]
            return [str(k) for k in range(self.num_classes)]
        if names is None:
            raise ValueError("SegmentationMetric: give num_classes (the data set has no 'classes')")
        return [str(n) for n in names]

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keeps each image's pixel confusion matrix.

        Raises:
            KeyError: a sample without ``gt_mask`` or ``pred_mask``.
            ValueError: the masks differ in shape.
        """
        n = len(self._classes())
        for sample in data_samples:
            gt, pred = _get(sample, "gt_mask"), _get(sample, "pred_mask")
            if gt is None or pred is None:
                raise KeyError("SegmentationMetric: a data sample lacks gt_mask or pred_mask")
            self.results.append(pixel_confusion(_array(gt), _array(pred), n, self.ignore_index))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """The scores of the summed confusion matrix (logged as a table)."""
        names = self._classes()
        confusion = np.sum(results, axis=0) if results else np.zeros((len(names), len(names)), np.int64)
        self.last_confusion = confusion
        scores = segmentation_scores(confusion, [key_name(n) for n in names])
        table = "\n".join(
            f"{name:>16s}  IoU {scores[f'IoU_{key_name(name)}']:.4f}  Dice {scores[f'Dice_{key_name(name)}']:.4f}"
            for name in names
        )
        print_log(f"segmentation, {len(results)} images:\n{table}\nPA {scores['PA']:.4f}", logger="current")
        return scores
