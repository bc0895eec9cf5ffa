"""Runner engine, the seam: :class:`MMDetEngine` implements :class:`cxrdet.engines.base.Engine` with mmengine's Runner.

``engine='mmdet'`` configs (``configs/mmdet/``) are mmdet configs: mmengine's ``Runner`` trains them as
mmdet's own ``tools/train.py`` would, on the split's COCO files (:mod:`.config`); checkpoints get a
weights-only twin (:mod:`.hooks`); ``predict`` (:mod:`.predict`) and the OOF files (:mod:`.oof`) write
cxrdet's prediction files in ORIGINAL pixels. Full checkpoints load only through
:func:`~cxrdet.engines.checkpoint.trusted_checkpoints` (the run folder, a file the user named).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cxrdet.engines.base import PredictResult, TrainResult
from cxrdet.engines.runner.runner_engine import RunnerEngine
from cxrdet.errors import ConfigError
from cxrdet.structures import DatasetMeta

log = logging.getLogger(__name__)

ENGINE = "mmdet"


def _vindr_iou(cfg) -> float:
    evaluators = cfg.get("val_evaluator") or {}
    for ev in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
        if "VinDrMetric" in str(ev.get("type", "")):
            return float(ev.get("iou_thr", 0.4))
    return 0.4


class MMDetEngine(RunnerEngine):
    """MMDetection detectors through mmengine's Runner on a ``cxrdet convert`` folder.

    Args:
        cfg: the engine's summary (``data_root``, ``work_dir``, ``vindr_iou``, ``predict``, ``launcher``, ``device``).
        config_path: the config file.
        runner_cfg: the loaded mmengine ``Config`` (``--cfg-options`` applied).
    """

    name = ENGINE

    @classmethod
    def from_config(cls, path: str | os.PathLike | None, options: Mapping[str, Any] | None = None) -> MMDetEngine:
        from cxrdet.engines.runner.predict import PredictOptions

        cfg, summary = cls.load(path, options)
        predict = dict(cfg.get("predict") or {})
        PredictOptions.from_options(predict)  # unknown keys rejected now, not after training
        summary.update(vindr_iou=_vindr_iou(cfg), predict=predict)
        return cls(summary, path, cfg)

    # ------------------------------------------------------------------ data

    def data_root(self) -> Path:
        """The config's ``data_root`` (a ``cxrdet convert`` folder), checked."""
        root = self.cfg.get("data_root")
        if not root:
            raise ConfigError("data_root is not set: --data-root PATH (a cxrdet convert folder)")
        root = Path(root).resolve()
        if not (root / "convert.json").is_file():
            raise ConfigError(f"data_root={str(root)!r} is not a cxrdet convert output (no convert.json)")
        return root

    def dataset_meta(self) -> DatasetMeta:
        from cxrdet.io.metainfo import read_convert_meta

        return read_convert_meta(self.data_root())

    def record(self) -> dict:
        """What checkpoints record for prediction: the PNGs' size and bit depth, the class list, the data set."""
        import json

        root = self.data_root()
        info = json.loads((root / "convert.json").read_text())
        return {
            "png_size": int(info["size"]),
            "bit_depth": int(info.get("bit_depth", 8)),
            "data_root": str(root),
            "dataset": self.dataset_meta().to_dict(),
            "engine": ENGINE,
        }

    def select_splits(self, fold: Sequence[int] | None = None, folds: str | None = None) -> list[str]:
        from cxrdet.engines.runner.config import select_splits

        return select_splits(self.data_root(), list(fold) if fold else None, folds == "all")

    # ------------------------------------------------------------------ train

    def _fit(self, split: str, resume: Path | None, record: dict) -> TrainResult:
        from cxrdet.engines.runner.config import split_config
        from cxrdet.engines.runner.distributed import is_main_process

        cfg = split_config(
            self.runner_cfg,
            split,
            data_root=self.data_root(),
            work_dir=self.work_dir.resolve() / split,
            resume=resume,
            launcher=self.cfg["launcher"],
            record=record,
            experiment=self.experiment,
        )
        result = self.fit_split(split, cfg, f"VinDr mAP@{self.cfg['vindr_iou']:g}")
        if split.startswith("fold") and is_main_process() and result.best.is_file():
            start = time.perf_counter()
            result.oof = self.write_oof(result.best, split, self.work_dir / f"oof_{split}.csv")
            result.seconds += time.perf_counter() - start
        return result

    def train(self, splits: Sequence[str] | None = None, resume: bool | str | None = None) -> list[TrainResult]:
        from cxrdet.engines.runner.config import available_splits
        from cxrdet.engines.runner.distributed import is_main_process
        from cxrdet.engines.runner.oof import combine_oof

        splits = list(splits or ["all"])
        sources = self.resume_sources(splits, resume)
        self.write_resolved_config()
        record = self.record()
        results = [self._fit(split, sources[split], record) for split in splits]
        if is_main_process():
            folds = [int(s[4:]) for s in available_splits(self.data_root()) if s.startswith("fold")]
            combine_oof(self.work_dir, folds, self.dataset_meta())
        for r in results:
            log.info("%s: best %s (VinDr mAP %s) in %.0f s", r.split, r.best, r.vindr_map, r.seconds)
        return results

    # ------------------------------------------------------------------ inference

    def _record(self, checkpoint) -> dict:
        from cxrdet.engines.runner.model import record_of

        return record_of(checkpoint)

    def checkpoint_meta(self, checkpoint: str | os.PathLike) -> DatasetMeta:
        """The class list ``checkpoint`` records, else the convert folder's, else mmdet's class names."""
        from cxrdet.engines.runner.model import meta_of_record

        fallback = None
        if self.cfg.get("data_root") and (Path(self.cfg["data_root"]) / "convert.json").is_file():
            fallback = self.dataset_meta()
        return meta_of_record(self._record(checkpoint), fallback)

    def predict(self, checkpoint: str | os.PathLike, items: Sequence, **options: Any) -> PredictResult:
        """Options: the config's ``predict`` section < ``options`` (:class:`.predict.PredictOptions` fields)."""
        from cxrdet.engines.runner.predict import PredictOptions, predict

        merged = {k: v for k, v in self.cfg["predict"].items() if k != "no_finding"}
        merged.update({k: v for k, v in options.items() if v is not None})
        if self.cfg.get("device") and "device" not in options:
            merged["device"] = self.cfg["device"]
        opts = PredictOptions.from_options(merged)
        record = self._record(checkpoint)
        return predict(self.runner_cfg, checkpoint, list(items), self.checkpoint_meta(checkpoint), record, opts)

    def _split_of(self, checkpoint) -> str:
        return str(self._record(checkpoint).get("split") or "all")

    def test(self, checkpoint: str | os.PathLike, split: str | None = None):
        """VinDr mAP of ``checkpoint`` on ``split``'s validation images (default: the split it was trained on).

        Also writes the predictions to ``<work_dir>/<split>/test_<checkpoint name>.csv`` (the result's
        ``predictions`` attribute).
        """
        from cxrdet.engines.runner.oof import split_ground_truth, split_sources, write_table
        from cxrdet.evaluation.voc import vindr_map

        split = split or self._split_of(checkpoint)
        root = self.data_root()
        meta = self.checkpoint_meta(checkpoint)
        if meta != self.dataset_meta():
            raise ConfigError(f"{checkpoint}: trained on other classes than {root} ({', '.join(meta.classes[:4])}...)")
        result = self.predict(checkpoint, split_sources(root, split), progress=False)
        out = write_table(result.table, meta, self.work_dir / split / f"test_{Path(checkpoint).stem}.csv")
        score = vindr_map(
            split_ground_truth(root, split), result.table, iou_thr=float(self.cfg["vindr_iou"]), meta=meta
        )
        score.predictions = out
        return score

    def write_oof(self, checkpoint: str | os.PathLike, split: str, out: str | os.PathLike) -> Path:
        from cxrdet.engines.no_finding import append_no_finding
        from cxrdet.engines.runner.oof import split_sources, write_table

        result = self.predict(checkpoint, split_sources(self.data_root(), split), progress=False)
        table = result.table
        if self.cfg["predict"].get("no_finding"):
            table = append_no_finding(table, result.meta)
        log.info("out-of-fold predictions: %d boxes on %d images -> %s", len(table), len(table.images), out)
        return write_table(table, result.meta, Path(out))

    def untrained_checkpoint(self, out: str | os.PathLike) -> Path:
        from cxrdet.engines.runner.untrained import write_untrained_checkpoint

        return write_untrained_checkpoint(self.runner_cfg, self.record(), out)

    def describe(self) -> str:
        cfg = self.runner_cfg
        model = Path(self.config_path).stem.split("_")[0] if self.config_path else "mmdet"
        backbone = cfg.model.get("backbone", {})
        depth = backbone.get("depth")
        epochs = (cfg.get("train_cfg") or {}).get("max_epochs")
        sizes = [s.get("scale") for s in _pipeline(cfg) if str(s.get("type", "")).endswith("Resize")]
        size = f" at {max(sizes[0])} px" if sizes and isinstance(sizes[0], (list, tuple)) else ""
        return f"{model}{f' R-{depth}' if depth else ''}{size}" + (f", {epochs} epochs" if epochs else "")


def _pipeline(cfg) -> list:
    from cxrdet.engines.runner.config import leaf_datasets

    for dataset in leaf_datasets((cfg.get("train_dataloader") or {}).get("dataset")):
        return list(dataset.get("pipeline") or [])
    return []
