"""YOLO engine, the seam: :class:`YoloEngine` implements :class:`cxrdet.engines.base.Engine` with Ultralytics."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cxrdet.engines.base import Engine, PredictResult, TrainResult
from cxrdet.engines.yolo.config import ENGINE, resolve_config
from cxrdet.engines.yolo.dataset import Dataset, select_splits


class YoloEngine(Engine):
    """YOLOv5u through Ultralytics on a ``cxrdet convert`` folder (configs in ``configs/yolo/``).

    Args:
        cfg: a resolved YOLO config (:func:`cxrdet.engines.yolo.config.resolve_config`).
        config_path: the config file it came from.
    """

    name = ENGINE

    @classmethod
    def from_config(cls, path: str | os.PathLike | None, options: Mapping[str, Any] | None = None) -> YoloEngine:
        return cls(resolve_config(path, dict(options or {})), path)

    @classmethod
    def reads_checkpoint_alone(cls, checkpoint: str | os.PathLike) -> bool:
        return Path(checkpoint).suffix == ".pt"

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike) -> YoloEngine:
        return cls(resolve_config(None), None)  # a cxrdet .pt records its preprocessing itself

    @staticmethod
    def flag_options(
        data_root: str | None = None,
        work_dir: str | None = None,
        load_from: str | None = None,
        device: str | None = None,
    ) -> dict[str, Any]:
        options: dict[str, Any] = {
            k: v for k, v in (("data_root", data_root), ("work_dir", work_dir), ("load_from", load_from)) if v
        }
        if device is not None:
            options["ultralytics"] = {"device": device}
        return options

    def dataset(self) -> Dataset:
        """The config's ``data_root`` (checked)."""
        return Dataset.open(self.cfg["data_root"])

    def select_splits(self, fold: Sequence[int] | None = None, folds: str | None = None) -> list[str]:
        return select_splits(self.dataset(), list(fold) if fold else None, folds)

    def train(self, splits: Sequence[str] | None = None, resume: bool | str | None = None) -> list[TrainResult]:
        from cxrdet.engines.yolo.fit import train

        resume = self.cfg.get("resume") if resume is None else resume  # --resume wins over the config's
        return train(self.cfg, list(splits) if splits else None, resume)

    def _val_list(self, split: str) -> Path:
        from cxrdet.engines.yolo.fit import _yaml_value

        return Path(_yaml_value(self.dataset().data_yaml(split), "val"))

    def test(self, checkpoint: str | os.PathLike, split: str | None = None):
        """VinDr mAP of ``checkpoint`` on ``split``'s validation images (default: the split it was trained on).

        Returns:
            The :func:`cxrdet.evaluation.voc.vindr_map` result (``map``, ``per_class``).
        """
        from cxrdet.engines.yolo.validation import VindrValidation
        from cxrdet.errors import ConfigError
        from cxrdet.evaluation.voc import vindr_map
        from cxrdet.io.sources import find_sources

        split = split or _trained_split(checkpoint) or "all"
        val_list = self._val_list(split)
        validation = VindrValidation.from_convert(self.dataset().root, val_list, self.cfg["vindr_iou"])
        meta = self.checkpoint_meta(checkpoint)
        if meta != validation.meta:
            raise ConfigError(
                f"{checkpoint}: trained on other classes ({', '.join(meta.classes[:4])}...) than "
                f"{self.dataset().root} ({', '.join(validation.meta.classes[:4])}...)"
            )
        result = self.predict(checkpoint, find_sources(val_list), progress=False)
        return vindr_map(validation.gt, result.table, iou_thr=float(self.cfg["vindr_iou"]), meta=validation.meta)

    def checkpoint_meta(self, checkpoint: str | os.PathLike):
        """The class list a cxrdet ``.pt`` records (VinDr for one without)."""
        from cxrdet.engines.yolo.checkpoints import read_record, record_meta

        return record_meta(read_record(checkpoint), checkpoint)

    def predict(self, checkpoint: str | os.PathLike, items: Sequence, **options: Any) -> PredictResult:
        """Options: the config's ``predict`` section (``no_finding`` excepted) < ``options``
        (:class:`cxrdet.engines.yolo.predict.PredictOptions` fields)."""
        from cxrdet.engines.yolo.predict import PredictOptions, predict

        merged = {k: v for k, v in self.cfg["predict"].items() if k != "no_finding"}
        merged.update({k: v for k, v in options.items() if v is not None})
        return predict(checkpoint, list(items), PredictOptions(**merged))

    def write_oof(self, checkpoint: str | os.PathLike, split: str, out: str | os.PathLike) -> Path:
        from cxrdet.engines.yolo.oof import write_oof

        return write_oof(Path(checkpoint), self._val_list(split), Path(out), self.cfg["predict"])

    def untrained_checkpoint(self, out: str | os.PathLike) -> Path:
        from cxrdet.engines.yolo.checkpoints import untrained_checkpoint

        data = self.dataset()
        return untrained_checkpoint(self.cfg, out, data.png_size, data.bit_depth, data.meta)

    def describe(self) -> str:
        settings = self.cfg["ultralytics"]
        return f"{self.cfg['model']} at {settings['imgsz']} px, {settings['epochs']} epochs"


def _trained_split(checkpoint: str | os.PathLike) -> str | None:
    """The split ``cxrdet train`` recorded in a checkpoint, if any."""
    from cxrdet.engines.yolo.checkpoints import read_record

    return read_record(checkpoint).get("split")
