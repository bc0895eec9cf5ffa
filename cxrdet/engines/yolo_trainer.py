"""Ultralytics edge, training: Ultralytics' DetectionTrainer with a validator that also scores VinDr mAP@0.4.

The validator maps each validation prediction from the letterboxed frame to the PNG (Ultralytics'
``scale_boxes``) and on to ORIGINAL DICOM pixels (``meta.csv`` scales, x and y separately), then scores
them with :func:`cxrdet.evaluation.voc.vindr_map` against the fused boxes of ``labels_fused.csv`` (finding
classes; "No finding" is not a detector class). The value is logged as ``metrics/vindr_mAP40(B)`` and, with
``best_metric='vindr_map'``, replaces Ultralytics' fitness, so ``best.pt`` and early stopping follow it.
The classes are built on first use (importing this module does not import Ultralytics).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrdet.io.predictions import BoxTable
from cxrdet.preprocess.geometry import Resize
from cxrdet.structures import Detections

log = logging.getLogger(__name__)

VINDR_KEY = "metrics/vindr_mAP40(B)"
BEST_METRICS = ("vindr_map", "ultralytics")


@dataclass
class VindrValidation:
    """What the validator needs to score VinDr mAP: ground truth and the PNG -> DICOM scales.

    Attributes:
        gt: ground-truth boxes in original pixels; ``images`` lists every validation image.
        resizes: image_id -> :class:`Resize` (original <-> PNG).
        iou_thr: the metric's IoU threshold.
        best_metric: ``"vindr_map"`` (fitness = VinDr mAP) or ``"ultralytics"`` (its mAP50-95 fitness).
    """

    gt: BoxTable
    resizes: dict[str, Resize]
    iou_thr: float = 0.4
    best_metric: str = "vindr_map"

    @classmethod
    def from_convert(cls, data_root: Path, val_list: Path, iou_thr: float = 0.4,
                     best_metric: str = "vindr_map") -> VindrValidation:
        """From a ``cxrdet convert`` folder and a split's ``val.txt``."""
        ids = [Path(line.strip()).stem for line in Path(val_list).read_text().splitlines() if line.strip()]
        meta = pd.read_csv(data_root / "meta.csv", dtype={"image_id": str}).set_index("image_id")
        resizes = {i: Resize(int(r.original_height), int(r.original_width), int(r.height), int(r.width))
                   for i, r in meta.loc[ids].iterrows()}
        fused = pd.read_csv(data_root / "labels_fused.csv", dtype={"image_id": str})
        fused = fused[fused["image_id"].isin(set(ids))].assign(score=1.0)
        images = pd.DataFrame({"height": [resizes[i].original_height for i in ids],
                               "width": [resizes[i].original_width for i in ids]},
                              index=pd.Index(ids, name="image_id"))
        return cls(BoxTable(fused, images, "labels_fused.csv"), resizes, iou_thr, best_metric)

    def score(self, detections: list[Detections]) -> float:
        """VinDr mAP of the collected detections (0 for classes with ground truth and no prediction)."""
        from cxrdet.evaluation.voc import vindr_map

        pred = BoxTable.from_detections(detections, source="validation")
        result = vindr_map(self.gt, pred, iou_thr=self.iou_thr, unknown_images="ignore", curves=False)
        return 0.0 if np.isnan(result.map) else float(result.map)


@functools.cache
def trainer_class():
    """``(CxrdetTrainer, VindrValidator)`` subclasses of Ultralytics' detection trainer and validator."""
    from copy import copy

    from ultralytics.models.yolo.detect import DetectionTrainer, DetectionValidator

    class VindrValidator(DetectionValidator):
        """DetectionValidator that also collects predictions in DICOM pixels and scores VinDr mAP."""

        vindr: VindrValidation | None = None

        def init_metrics(self, model):
            super().init_metrics(model)
            self._vindr_dets: list[Detections] = []

        def update_metrics(self, preds, batch):
            super().update_metrics(preds, batch)
            if self.vindr is not None:
                self.collect_vindr(preds, batch)

        def collect_vindr(self, preds, batch):
            """Keeps the batch's predictions in DICOM pixels: letterbox -> PNG (``scale_preds``) -> DICOM."""
            for si, pred in enumerate(preds):
                pbatch = self._prepare_batch(si, batch)
                image_id = Path(pbatch["im_file"]).stem
                scaled = self.scale_preds(pred, pbatch)["bboxes"].float().cpu().numpy()
                resize = self.vindr.resizes.get(image_id)
                if resize is None:
                    continue
                self._vindr_dets.append(Detections(image_id, resize.boxes_to_original(scaled),
                                                   pred["conf"].float().cpu().numpy(),
                                                   pred["cls"].cpu().numpy().astype(np.int64)))

        def get_stats(self):
            stats = super().get_stats()
            if self.vindr is not None:
                value = self._vindr_value = self.vindr.score(self._vindr_dets)
                stats[VINDR_KEY] = value
                if self.vindr.best_metric == "vindr_map":
                    stats["fitness"] = value
            return stats

        def print_results(self):
            super().print_results()
            if self.vindr is not None and hasattr(self, "_vindr_value"):
                from ultralytics.utils import LOGGER

                name = f"VinDr mAP@{self.vindr.iou_thr:g}"
                LOGGER.info(f"{name:>22}{self._vindr_value:>11.4f}  ({len(self._vindr_dets)} images, "
                            "DICOM pixels, fused labels)")

    class CxrdetTrainer(DetectionTrainer):
        """DetectionTrainer whose validator is :class:`VindrValidator` (``vindr`` set before ``train()``)."""

        vindr: VindrValidation | None = None

        def get_validator(self):
            validator = VindrValidator(self.test_loader, save_dir=self.save_dir, args=copy(self.args),
                                       _callbacks=self.callbacks)
            validator.vindr = self.vindr
            return validator

    return CxrdetTrainer, VindrValidator
