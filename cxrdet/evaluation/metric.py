"""Evaluation inside MMEngine loops: ``VinDrMetric`` reports the VinDr mAP@0.4 in mmdet val/test runs.

Use in a config: ``val_evaluator = dict(type='cxrdet.VinDrMetric', iou_thr=0.4)`` (or ``type='VinDrMetric'``
with ``default_scope='cxrdet'``). Predictions and ground truth only need to share one frame: IoU does not change
when both are scaled alike, so the mmdet "original image" frame (the loaded PNG) gives the same mAP as DICOM
pixels. This module imports mmengine only (never mmdet).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from cxrdet.registry import METRICS
from cxrdet.structures import NO_FINDING_BOX, VINDR, DatasetMeta

NO_FINDING_MODES = ("skip", "one_minus_max")


def _numpy(value: Any, dtype=np.float64) -> np.ndarray:
    if hasattr(value, "tensor"):  # mmdet HorizontalBoxes
        value = value.tensor
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def _get(sample: Any, key: str, default: Any = None) -> Any:
    if isinstance(sample, dict):
        return sample.get(key, default)
    return getattr(sample, key, default)


def _ground_truth(sample: Any) -> tuple[np.ndarray, np.ndarray]:
    """GT boxes/labels from raw ``instances`` (preferred: original frame) or ``gt_instances``."""
    instances = _get(sample, "instances")
    if instances is not None:
        kept = [i for i in instances if not i.get("ignore_flag", 0)]
        boxes = np.array([i["bbox"] for i in kept], dtype=np.float64).reshape(-1, 4)
        return boxes, np.array([i["bbox_label"] for i in kept], dtype=np.int64)
    gt = _get(sample, "gt_instances")
    if gt is None:
        raise KeyError("VinDrMetric: a data sample has neither 'instances' nor 'gt_instances'")
    return _numpy(_get(gt, "bboxes")).reshape(-1, 4), _numpy(_get(gt, "labels"), np.int64).reshape(-1)


@METRICS.register_module()
class VinDrMetric(BaseMetric):
    """VinDr-CXR mAP (VOC 2010 all-point, IoU >= ``iou_thr``) over an mmdet validation/test set.

    Args:
        iou_thr: IoU threshold (competition: 0.4).
        match: ``"voc"`` (devkit rule) or ``"best_unmatched"``.
        label_offset: added to predicted and GT labels to get VinDr class ids (0 for a detector whose classes
            are the 14 findings in VinDr order).
        no_finding: class 14 handling. ``"skip"`` (default): class 14 is not scored; the mAP is over the
            finding classes that have GT. ``"one_minus_max"``: every image without GT boxes gets GT
            ``14 [0, 0, 1, 1]`` and every image gets the prediction ``14, 1 - max finding score`` (1 when the
            detector found nothing) — a detector-only stand-in for a normal/abnormal classifier.
        gt_rescale: divide GT boxes by the sample's ``scale_factor`` (only for pipelines that load
            annotations BEFORE ``Resize``; mmdet's usual test pipeline loads them after, in the original frame).
        classwise: also report per-class AP as ``AP_<class id>``.
        collect_device: see :class:`mmengine.evaluator.BaseMetric`.
        prefix: key prefix (default ``vindr``: keys ``vindr/mAP``, ...).
        dataset: the data set's class list, a :class:`~cxrdet.structures.DatasetMeta` or its dict
            (``{"classes": [...], "no_finding": id or None}``, what ``classes.json`` holds); VinDr by default.
            Without a "no finding" class, ``no_finding`` must stay ``"skip"`` (nothing to skip).
    """

    default_prefix = "vindr"

    def __init__(
        self,
        iou_thr: float = 0.4,
        match: str = "voc",
        label_offset: int = 0,
        no_finding: str = "skip",
        gt_rescale: bool = False,
        classwise: bool = False,
        collect_device: str = "cpu",
        prefix: str | None = None,
        dataset: DatasetMeta | dict | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if no_finding not in NO_FINDING_MODES:
            raise ValueError(f"no_finding must be one of {NO_FINDING_MODES}, got {no_finding!r}")
        meta = VINDR if dataset is None else dataset
        self.meta = meta if isinstance(meta, DatasetMeta) else DatasetMeta.from_dict(dict(meta))
        if self.meta.no_finding is None and no_finding != "skip":
            raise ValueError(f"no_finding={no_finding!r} needs a data set with a 'no finding' class")
        self._nf = -1 if self.meta.no_finding is None else self.meta.no_finding
        self.iou_thr, self.match, self.label_offset = float(iou_thr), match, int(label_offset)
        self.no_finding, self.gt_rescale, self.classwise = no_finding, bool(gt_rescale), bool(classwise)

    def _image_id(self, sample: Any) -> str:
        path = _get(sample, "img_path")
        return Path(path).stem if path else str(_get(sample, "img_id", len(self.results)))

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Stores each sample's predictions and ground truth (numpy, VinDr class ids)."""
        for sample in data_samples:
            pred = _get(sample, "pred_instances")
            boxes = _numpy(_get(pred, "bboxes")).reshape(-1, 4)
            scores = _numpy(_get(pred, "scores")).reshape(-1)
            labels = _numpy(_get(pred, "labels"), np.int64).reshape(-1) + self.label_offset
            gt_boxes, gt_labels = _ground_truth(sample)
            gt_labels = gt_labels + self.label_offset
            if self.gt_rescale:
                sx, sy = np.asarray(_get(sample, "scale_factor", (1.0, 1.0)), dtype=np.float64)[:2]
                gt_boxes = gt_boxes / np.array([sx, sy, sx, sy])
            if self.no_finding == "skip":
                keep, gt_keep = labels != self._nf, gt_labels != self._nf
                boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
                gt_boxes, gt_labels = gt_boxes[gt_keep], gt_labels[gt_keep]
            else:
                p_normal = 1.0 - (float(scores.max()) if len(scores) else 0.0)
                boxes = np.vstack([boxes, NO_FINDING_BOX])
                scores, labels = np.append(scores, p_normal), np.append(labels, self._nf)
                if not len(gt_labels):
                    gt_boxes, gt_labels = np.array([NO_FINDING_BOX]), np.array([self._nf])
            self.results.append((self._image_id(sample), boxes, scores, labels, gt_boxes, gt_labels))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """VinDr mAP of the collected results: ``{"mAP": ...}`` (+ ``AP_<id>`` with ``classwise``)."""
        from cxrdet.evaluation.voc import vindr_map
        from cxrdet.structures import BoxTable, Detections, GroundTruth

        seen: dict[str, int] = {}
        preds, gts = [], []
        for image_id, boxes, scores, labels, gt_boxes, gt_labels in results:
            n = seen.get(image_id, 0)  # the same image twice (e.g. repeated dataset) stays two images
            seen[image_id] = n + 1
            key = image_id if n == 0 else f"{image_id}#{n}"
            preds.append(Detections(key, boxes, np.clip(scores, 0.0, 1.0), labels))
            gts.append(GroundTruth(key, gt_boxes, gt_labels))
        result = vindr_map(
            BoxTable.from_detections(gts, source="ground truth"),
            BoxTable.from_detections(preds, source="predictions"),
            iou_thr=self.iou_thr,
            match=self.match,
            curves=False,
            meta=self.meta,
        )
        table = result.per_class[result.per_class["n_gt"] > 0]
        print_log(
            f"VinDr per-class AP@{self.iou_thr:g} ({self.match}):\n"
            + table[["class_id", "class_name", "ap", "n_gt", "n_pred"]].to_string(index=False),
            logger="current",
        )
        metrics = {"mAP": float(result.map) if not pd.isna(result.map) else 0.0}
        if self.classwise:
            for row in table.itertuples(index=False):
                metrics[f"AP_{row.class_id:02d}"] = float(row.ap)
        return metrics
