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

from cxrdet.engines.base import Engine, PredictResult, TrainResult
from cxrdet.errors import ConfigError
from cxrdet.structures import DatasetMeta

log = logging.getLogger(__name__)

ENGINE = "mmdet"
CXRDET_KEYS = ("device", "launcher")  # flags that are not mmengine config keys


def _vindr_iou(cfg) -> float:
    evaluators = cfg.get("val_evaluator") or {}
    for ev in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
        if "VinDrMetric" in str(ev.get("type", "")):
            return float(ev.get("iou_thr", 0.4))
    return 0.4


class MMDetEngine(Engine):
    """MMDetection detectors through mmengine's Runner on a ``cxrdet convert`` folder.

    Args:
        cfg: the engine's summary (``data_root``, ``work_dir``, ``vindr_iou``, ``predict``, ``launcher``, ``device``).
        config_path: the config file.
        runner_cfg: the loaded mmengine ``Config`` (``--cfg-options`` applied).
    """

    name = ENGINE

    def __init__(self, cfg: Mapping[str, Any], config_path: str | os.PathLike | None = None, runner_cfg=None) -> None:
        super().__init__(cfg, config_path)
        self.runner_cfg = runner_cfg

    @classmethod
    def from_config(cls, path: str | os.PathLike | None, options: Mapping[str, Any] | None = None) -> MMDetEngine:
        from cxrdet.config import read_config
        from cxrdet.engines.runner.predict import PredictOptions

        if path is None:
            raise ConfigError("the mmdet engine needs its config: cxrdet predict CONFIG CHECKPOINT")
        options = dict(options or {})
        extra = {k: options.pop(k) for k in CXRDET_KEYS if k in options}
        cfg = read_config(path, options)
        if cfg.get("engine") != ENGINE:
            raise ConfigError(f"{path}: engine={cfg.get('engine')!r}, not {ENGINE!r}")
        if "model" not in cfg:
            raise ConfigError(f"{path}: no model section (an mmdet config needs model=dict(...))")
        predict = dict(cfg.get("predict") or {})
        PredictOptions.from_options(predict)  # unknown keys rejected now, not after training
        summary = {
            "engine": ENGINE,
            "data_root": cfg.get("data_root"),
            "work_dir": str(cfg.get("work_dir") or Path("work_dirs") / Path(path).stem),
            "load_from": cfg.get("load_from"),
            "resume": cfg.get("resume"),
            "vindr_iou": _vindr_iou(cfg),
            "predict": predict,
            "launcher": str(extra.get("launcher") or "none"),  # the flag only, as mmdet's tools/train.py
            "device": extra.get("device"),
        }
        return cls(summary, path, cfg)

    @staticmethod
    def flag_options(
        data_root: str | None = None,
        work_dir: str | None = None,
        load_from: str | None = None,
        device: str | None = None,
    ) -> dict[str, Any]:
        pairs = (("data_root", data_root), ("work_dir", work_dir), ("load_from", load_from), ("device", device))
        return {k: v for k, v in pairs if v}

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
        from mmengine.runner import Runner

        import cxrdet.engines.runner.hooks  # noqa: F401 - registers the weights-only hook
        from cxrdet.engines.checkpoint import trusted_checkpoints
        from cxrdet.engines.runner.config import split_config
        from cxrdet.engines.runner.distributed import is_main_process

        split_dir = self.work_dir.resolve() / split
        cfg = split_config(
            self.runner_cfg,
            split,
            data_root=self.data_root(),
            work_dir=split_dir,
            resume=resume,
            launcher=self.cfg["launcher"],
            record=record,
            experiment=Path(self.config_path).stem if self.config_path else "mmdet",
        )
        start = time.perf_counter()
        if "runner_type" in cfg:
            from mmengine.registry import RUNNERS

            runner = RUNNERS.build(cfg)
        else:
            runner = Runner.from_cfg(cfg)
        trusted = [split_dir] + ([cfg.load_from] if cfg.get("load_from") else [])
        with trusted_checkpoints(trusted):
            runner.train()
        best = runner.message_hub.get_info("best_ckpt")
        score = runner.message_hub.get_info("best_score")
        last = split_dir / "last_checkpoint"
        if not best and last.is_file():
            best = last.read_text().strip()
        best_path = Path(best) if best else split_dir
        oof = None
        if split.startswith("fold") and is_main_process() and best:
            oof = self.write_oof(best_path, split, self.work_dir / f"oof_{split}.csv")
        return TrainResult(split, split_dir, best_path, None if score is None else float(score), oof,
                           time.perf_counter() - start)  # fmt: skip

    def train(self, splits: Sequence[str] | None = None, resume: bool | str | None = None) -> list[TrainResult]:
        from cxrdet.engines.runner.config import available_splits, resume_source
        from cxrdet.engines.runner.distributed import is_main_process
        from cxrdet.engines.runner.oof import combine_oof

        splits = list(splits or ["all"])
        resume = self.cfg.get("resume") if resume is None else resume
        if resume not in (None, False, True, "auto") and len(splits) > 1:
            raise ConfigError("--resume PATH continues one split; give one --fold (or --resume auto for every split)")
        if self.cfg.get("device"):
            log.warning(
                "--device %s: the mmdet engine trains on mmengine's device (CUDA when visible; choose GPUs with "
                "CUDA_VISIBLE_DEVICES); --device applies to its predictions",
                self.cfg["device"],
            )
        record = self.record()
        sources = {s: resume_source(self.work_dir.resolve() / s, resume) for s in splits}
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
