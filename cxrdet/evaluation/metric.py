"""Evaluation inside MMEngine loops: ``VinDrMetric`` reports the VinDr mAP@0.4 in mmdet val/test runs.

Use in a config: ``val_evaluator = dict(type='cxrdet.VinDrMetric', iou_thr=0.4)`` (or ``type='VinDrMetric'``
with ``default_scope='cxrdet'``), and pick checkpoints by it with
``default_hooks.checkpoint = dict(save_best='vindr/mAP', rule='greater')`` (``configs/mmdet/_base_``).
Boxes are scored in ORIGINAL DICOM pixels, as the competition scores them: predictions and ground truth come
in mmdet's "original image" frame (the loaded PNG, ``ori_shape``) and are scaled by DICOM size / PNG size,
the DICOM size taken from each sample's ``original_shape`` (set by
:class:`~cxrdet.datasets.vindr_coco.VinDrCocoDataset` from the COCO json) or from ``sizes`` (a convert
``meta.csv``). IoU does not change when one image's boxes are all scaled alike, so the mAP equals the PNG
frame's; the scaled boxes matter where they leave the metric (:attr:`VinDrMetric.predictions`, a
:class:`~cxrdet.structures.BoxTable` in DICOM pixels with each image's size, what prediction files hold).
This module imports mmengine only (never mmdet).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from cxrdet.registry import METRICS
from cxrdet.structures import NO_FINDING_BOX, VINDR, BoxTable, DatasetMeta

NO_FINDING_MODES = ("skip", "one_minus_max")
ORIGINAL_SHAPE_KEY = "original_shape"  # VinDrCocoDataset's data-info / image-meta key: DICOM (height, width)
DATASET_META_KEY = "cxrdet_meta"  # VinDrCocoDataset's metainfo key: classes.json's dict ("no finding" included)


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
        sizes: a ``cxrdet convert`` ``meta.csv`` (or any sizes CSV of :func:`cxrdet.io.sizes.read_sizes`):
            the DICOM size of samples without ``original_shape``. A sample with neither is scored in its
            loaded-image frame.
        collect_device: see :class:`mmengine.evaluator.BaseMetric`.
        prefix: key prefix (default ``vindr``: keys ``vindr/mAP``, ...).
        dataset: the data set's class list, a :class:`~cxrdet.structures.DatasetMeta` or its dict
            (``{"classes": [...], "no_finding": id or None}``, what ``classes.json`` holds); VinDr by default.
            Without a "no finding" class, ``no_finding`` must stay ``"skip"`` (nothing to skip). When not
            given, the class list the Runner passes from a :class:`VinDrCocoDataset` (its ``classes.json``)
            is used, else VinDr's. Detector label ``k`` is class id ``finding_classes[k]`` (every class but
            "no finding", in id order), then ``label_offset`` is added.
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
        sizes: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if no_finding not in NO_FINDING_MODES:
            raise ValueError(f"no_finding must be one of {NO_FINDING_MODES}, got {no_finding!r}")
        self.iou_thr, self.match, self.label_offset = float(iou_thr), match, int(label_offset)
        self.no_finding, self.gt_rescale, self.classwise = no_finding, bool(gt_rescale), bool(classwise)
        self._given_meta = dataset is not None
        self._set_meta(VINDR if dataset is None else dataset)
        self.sizes_file = sizes
        self._sizes: pd.DataFrame | None = None
        self._unscaled = 0
        self.predictions: BoxTable | None = None  # the last evaluation's, in DICOM pixels, with image sizes
        self.ground_truth: BoxTable | None = None

    def _set_meta(self, meta: DatasetMeta | dict) -> None:
        self.meta = meta if isinstance(meta, DatasetMeta) else DatasetMeta.from_dict(dict(meta))
        if self.meta.no_finding is None and self.no_finding != "skip":
            raise ValueError(f"no_finding={self.no_finding!r} needs a data set with a 'no finding' class")
        self._nf = -1 if self.meta.no_finding is None else self.meta.no_finding
        self._finding = np.asarray(self.meta.finding_classes, dtype=np.int64)

    @property
    def dataset_meta(self) -> dict | None:
        """The data set's metainfo (set by the Runner); its ``cxrdet_meta`` class list is used unless one was given."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, value: dict | None) -> None:
        self._dataset_meta = value
        if value and not self._given_meta and value.get(DATASET_META_KEY):
            self._set_meta(value[DATASET_META_KEY])

    def _class_ids(self, labels: np.ndarray) -> np.ndarray:
        """Detector labels -> class ids (``finding_classes[label]``; out-of-range labels pass through)."""
        inside = (labels >= 0) & (labels < len(self._finding))
        out = labels.copy()
        out[inside] = self._finding[labels[inside]]
        return out + self.label_offset

    def _scale(self, sample: Any) -> np.ndarray | None:
        """``[sx, sy, sx, sy]`` from the loaded-image frame to DICOM pixels, or None when the size is unknown."""
        frame = _get(sample, "ori_shape")
        original = _get(sample, ORIGINAL_SHAPE_KEY)
        if original is None and self.sizes_file is not None:
            if self._sizes is None:
                from cxrdet.io.sizes import read_sizes

                self._sizes = read_sizes(self.sizes_file)
            image_id = self._image_id(sample)
            if image_id in self._sizes.index:
                row = self._sizes.loc[image_id]
                original = (float(row["height"]), float(row["width"]))
        if original is None or frame is None:
            return None
        sy, sx = float(original[0]) / float(frame[0]), float(original[1]) / float(frame[1])
        return np.array([sx, sy, sx, sy])

    def _image_id(self, sample: Any) -> str:
        path = _get(sample, "img_path")
        return Path(path).stem if path else str(_get(sample, "img_id", len(self.results)))

    @staticmethod
    def _size(sample: Any, scale: np.ndarray | None) -> tuple[float, float] | None:
        """The image's (height, width) in the frame its boxes are stored in (DICOM pixels when scaled)."""
        frame = _get(sample, "ori_shape")
        if frame is None:
            return None
        sx, sy = (1.0, 1.0) if scale is None else (scale[0], scale[1])
        return (float(frame[0]) * sy, float(frame[1]) * sx)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Stores each sample's predictions and ground truth (numpy, VinDr class ids)."""
        for sample in data_samples:
            pred = _get(sample, "pred_instances")
            boxes = _numpy(_get(pred, "bboxes")).reshape(-1, 4)
            scores = _numpy(_get(pred, "scores")).reshape(-1)
            labels = self._class_ids(_numpy(_get(pred, "labels"), np.int64).reshape(-1))
            gt_boxes, gt_labels = _ground_truth(sample)
            gt_labels = self._class_ids(gt_labels)
            if self.gt_rescale:
                sx, sy = np.asarray(_get(sample, "scale_factor", (1.0, 1.0)), dtype=np.float64)[:2]
                gt_boxes = gt_boxes / np.array([sx, sy, sx, sy])
            scale = self._scale(sample)
            if scale is not None:  # to ORIGINAL DICOM pixels
                boxes, gt_boxes = boxes * scale, gt_boxes * scale
            else:
                self._unscaled += 1
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
            size = self._size(sample, scale)
            self.results.append((self._image_id(sample), boxes, scores, labels, gt_boxes, gt_labels, size))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """VinDr mAP of the collected results: ``{"mAP": ...}`` (+ ``AP_<id>`` with ``classwise``)."""
        from cxrdet.evaluation.voc import vindr_map
        from cxrdet.structures import Detections, GroundTruth

        if self._unscaled:
            print_log(
                f"VinDrMetric: {self._unscaled} image(s) without a DICOM size (no original_shape, not in sizes): "
                "scored in the loaded image's pixels",
                logger="current",
                level=logging.WARNING,
            )
            self._unscaled = 0
        seen: dict[str, int] = {}
        preds, gts, sizes = [], [], {}
        for image_id, boxes, scores, labels, gt_boxes, gt_labels, size in results:
            n = seen.get(image_id, 0)  # the same image twice (e.g. repeated dataset) stays two images
            seen[image_id] = n + 1
            key = image_id if n == 0 else f"{image_id}#{n}"
            if size is not None:
                sizes[key] = size
            preds.append(Detections(key, boxes, np.clip(scores, 0.0, 1.0), labels))
            gts.append(GroundTruth(key, gt_boxes, gt_labels))
        frame = pd.DataFrame.from_dict(sizes, orient="index", columns=["height", "width"]) if sizes else None
        self.ground_truth = BoxTable.from_detections(gts, sizes=frame, source="ground truth")
        self.predictions = BoxTable.from_detections(preds, sizes=frame, source="predictions")
        result = vindr_map(
            self.ground_truth,
            self.predictions,
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
