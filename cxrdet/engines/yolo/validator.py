"""YOLO engine, validator: Ultralytics' DetectionValidator that also scores VinDr mAP@0.4 in ORIGINAL DICOM pixels.

The validator maps each validation prediction from the letterboxed frame to the PNG (Ultralytics'
``scale_boxes``) and on to DICOM pixels (``meta.csv`` scales, x and y separately), then scores them with
:func:`cxrdet.evaluation.voc.vindr_map` against the fused boxes of ``labels_fused.csv``. The value is logged
as ``metrics/vindr_mAP40(B)`` and, with ``best_metric='vindr_map'``, replaces Ultralytics' fitness.

``VindrValidator`` is a module attribute (``cxrdet.engines.yolo.validator.VindrValidator``, so pickle finds
it by name) built on first access: importing this module does not import Ultralytics.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from cxrdet.engines.yolo.validation import VINDR_KEY, VindrValidation
from cxrdet.structures import Detections

log = logging.getLogger(__name__)

__all__ = ["VindrValidator"]  # noqa: F822 (made on first access by __getattr__: ultralytics loads late)


def __getattr__(name: str):
    if name == "VindrValidator":
        return _validator_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _validator_class() -> type:
    from ultralytics.models.yolo.detect import DetectionValidator

    class VindrValidator(DetectionValidator):
        """DetectionValidator that also collects predictions in DICOM pixels and scores VinDr mAP.

        Args:
            dataloader, save_dir, args, _callbacks: as Ultralytics' ``DetectionValidator``.
            vindr: the ground truth and scales to score against; None scores Ultralytics' metrics only.
        """

        def __init__(
            self, dataloader=None, save_dir=None, args=None, _callbacks=None, vindr: VindrValidation | None = None
        ) -> None:
            super().__init__(dataloader, save_dir, args, _callbacks)
            self.vindr = vindr

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
                self._vindr_dets.append(
                    Detections(
                        image_id,
                        resize.boxes_to_original(scaled),
                        pred["conf"].float().cpu().numpy(),
                        pred["cls"].cpu().numpy().astype(np.int64),
                    )
                )

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
                LOGGER.info(
                    f"{name:>22}{self._vindr_value:>11.4f}  ({len(self._vindr_dets)} images, "
                    "DICOM pixels, fused labels)"
                )

    VindrValidator.__module__ = __name__
    VindrValidator.__qualname__ = "VindrValidator"
    return VindrValidator
