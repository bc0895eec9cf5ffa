"""YOLO engine, validation data: ground truth in DICOM pixels + PNG -> DICOM scales, and the VinDr score of a pass.

Plain values only (no Ultralytics): the validator builds a :class:`VindrValidation` from the settings the
trainer carries in its arguments (:func:`VindrValidation.from_settings`), so a trainer rebuilt in another
process (Ultralytics' multi-GPU workers) scores the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrdet.preprocess.geometry import Resize
from cxrdet.structures import VINDR, BoxTable, DatasetMeta, Detections

log = logging.getLogger(__name__)

VINDR_KEY = "metrics/vindr_mAP40(B)"
BEST_METRICS = ("vindr_map", "ultralytics")
SETTINGS_KEY = "cxrdet_vindr"
"""Trainer argument holding :meth:`VindrValidation.settings`-style plain values (data_root, val_list, ...)."""


@dataclass
class VindrValidation:
    """What the validator needs to score VinDr mAP: ground truth and the PNG -> DICOM scales.

    Attributes:
        gt: ground-truth boxes in original pixels; ``images`` lists every validation image.
        resizes: image_id -> :class:`Resize` (original <-> PNG).
        iou_thr: the metric's IoU threshold.
        best_metric: ``"vindr_map"`` (fitness = VinDr mAP) or ``"ultralytics"`` (its mAP50-95 fitness).
        meta: the data set's class list (the classes scored; ``classes.json`` of the convert folder).
    """

    gt: BoxTable
    resizes: dict[str, Resize]
    iou_thr: float = 0.4
    best_metric: str = "vindr_map"
    meta: DatasetMeta = VINDR

    @classmethod
    def from_convert(
        cls, data_root: Path, val_list: Path, iou_thr: float = 0.4, best_metric: str = "vindr_map"
    ) -> VindrValidation:
        """From a ``cxrdet convert`` folder (its class list from ``classes.json``) and a split's ``val.txt``."""
        from cxrdet.io.metainfo import read_convert_meta

        ids = [Path(line.strip()).stem for line in Path(val_list).read_text().splitlines() if line.strip()]
        meta = pd.read_csv(data_root / "meta.csv", dtype={"image_id": str}).set_index("image_id")
        resizes = {
            i: Resize(int(r.original_height), int(r.original_width), int(r.height), int(r.width))
            for i, r in meta.loc[ids].iterrows()
        }
        fused = pd.read_csv(data_root / "labels_fused.csv", dtype={"image_id": str})
        fused = fused[fused["image_id"].isin(set(ids))].assign(score=1.0)
        images = pd.DataFrame(
            {"height": [resizes[i].original_height for i in ids], "width": [resizes[i].original_width for i in ids]},
            index=pd.Index(ids, name="image_id"),
        )
        return cls(
            BoxTable(fused, images, "labels_fused.csv"), resizes, iou_thr, best_metric, read_convert_meta(data_root)
        )

    def score(self, detections: list[Detections]) -> float:
        """VinDr mAP of the collected detections (0 for classes with ground truth and no prediction)."""
        from cxrdet.evaluation.voc import vindr_map

        pred = BoxTable.from_detections(detections, source="validation")
        result = vindr_map(self.gt, pred, iou_thr=self.iou_thr, unknown_images="ignore", curves=False, meta=self.meta)
        return 0.0 if np.isnan(result.map) else float(result.map)

    @classmethod
    def from_settings(cls, settings: dict) -> VindrValidation:
        """From the plain values a trainer carries (``data_root``, ``val_list``, ``vindr_iou``, ``best_metric``)."""
        return cls.from_convert(
            Path(settings["data_root"]),
            Path(settings["val_list"]),
            float(settings.get("vindr_iou", 0.4)),
            str(settings.get("best_metric", "vindr_map")),
        )


def validation_settings(
    data_root: str | Path, val_list: str | Path, vindr_iou: float = 0.4, best_metric: str = "vindr_map"
) -> dict:
    """The plain, picklable and YAML-able values :meth:`VindrValidation.from_settings` reads."""
    return {
        "data_root": str(Path(data_root).resolve()),
        "val_list": str(Path(val_list).resolve()),
        "vindr_iou": float(vindr_iou),
        "best_metric": str(best_metric),
    }
