"""Runner engine for cxrdet's custom models (``engine='mmengine'``): classifiers, bone age, on mmengine's Runner.

The configs under ``configs/fracture/``, ``configs/bone_age/`` and ``configs/classifier/`` are mmengine configs
in the ``cxrdet`` scope: a registered model (a ``BaseModel``), registered datasets that make their own seeded
splits (:mod:`.task_data`), registered metrics. ``cxrdet train`` runs mmengine's Runner on each split (logs,
TensorBoard scalars through the config's visualizer, checkpoints with a weights-only twin, the best by the
config's metric, ``--resume`` after a kill, training curves as a PNG); a fold's run ends with its
out-of-fold file (``oof_foldK.csv``: per-image predictions with the ground truth) and, once every fold has one,
``oof.csv``. ``cxrdet test`` is mmengine's test loop on the split's validation subset; ``cxrdet predict``
writes one row per image (:func:`~cxrdet.engines.runner.task_model.prediction_rows`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxrdet.engines.base import PredictResult, TrainResult
from cxrdet.engines.runner.config import copy_config
from cxrdet.engines.runner.runner_engine import RunnerEngine, best_metric_of, default_scope_kept
from cxrdet.errors import ConfigError
from cxrdet.structures import DatasetMeta

log = logging.getLogger(__name__)

ENGINE = "mmengine"


@dataclass
class TaskTestResult:
    """What :meth:`TaskEngine.test` measured.

    Attributes:
        metrics: the test evaluator's values (e.g. ``cls/accuracy``, ``bone_age/MAD_months``).
        report: the metric's text report (a classification report), or None.
        parameters: the model's parameter count.
        split: the split whose validation subset was scored.
    """

    metrics: dict[str, float]
    report: str | None
    parameters: int
    split: str

    def lines(self) -> list[str]:
        """The printed summary: the report, then every metric."""
        out = [self.report.rstrip()] if self.report else []
        out += [f"{key}: {value:.4f}" for key, value in self.metrics.items() if isinstance(value, (int, float))]
        out.append(f"parameters: {self.parameters:,}")
        return out


class TaskEngine(RunnerEngine):
    """cxrdet's custom mmengine models (classification, bone age) through mmengine's Runner."""

    name = ENGINE

    @classmethod
    def from_config(cls, path: str | os.PathLike | None, options: Mapping[str, Any] | None = None) -> TaskEngine:
        cfg, summary = cls.load(path, options)
        for key in ("train_dataloader", "val_dataloader", "val_evaluator"):
            if key not in cfg:
                raise ConfigError(f"{path}: no {key} (a custom-model config needs its data and metric)")
        summary["best_metric"] = best_metric_of(cfg)
        return cls(summary, path, cfg)

    # ------------------------------------------------------------------ data

    def data_root(self) -> Path:
        """The config's ``data_root`` (the folder its datasets read), checked."""
        root = self.cfg.get("data_root")
        if not root:
            raise ConfigError("data_root is not set: --data-root PATH (the data set's folder)")
        root = Path(root).resolve()
        if not root.is_dir():
            raise ConfigError(f"data_root={str(root)!r} is not a folder")
        return root

    def select_splits(self, fold: Sequence[int] | None = None, folds: str | None = None) -> list[str]:
        from cxrdet.engines.runner.task_data import select_task_splits

        return select_task_splits(self.runner_cfg, self.data_root(), list(fold) if fold else None, folds == "all")

    def split_cfg(self, split: str, resume: Path | None = None, work_dir: Path | None = None):
        """The Runner config of ``split``: run settings, the split's subsets, the training curves."""
        from cxrdet.engines.runner.config import run_config
        from cxrdet.engines.runner.task_data import set_task_split

        cfg = run_config(
            self.runner_cfg,
            split,
            work_dir=work_dir or self.work_dir.resolve() / split,
            resume=resume,
            launcher=self.cfg["launcher"],
            record={"engine": ENGINE, "data_root": str(self.data_root())},
            experiment=self.experiment,
        )
        set_task_split(cfg, split, self.data_root())
        hooks = [h for h in (cfg.get("custom_hooks") or []) if "TrainingCurvesHook" not in str(h.get("type"))]
        cfg.custom_hooks = [*hooks, {"type": "cxrdet.TrainingCurvesHook"}]
        return cfg

    # ------------------------------------------------------------------ train

    def train(self, splits: Sequence[str] | None = None, resume: bool | str | None = None) -> list[TrainResult]:
        from cxrdet.engines.runner.distributed import is_main_process

        splits = list(splits or ["all"])
        sources = self.resume_sources(splits, resume)
        self.write_resolved_config()
        metric = self.cfg.get("best_metric") or "-"
        results = []
        for split in splits:
            result = self.fit_split(split, self.split_cfg(split, sources[split]), metric)
            if split.startswith("fold") and is_main_process() and result.best.is_file():
                start = time.perf_counter()
                result.oof = self.write_oof(result.best, split, self.work_dir / f"oof_{split}.csv")
                result.seconds += time.perf_counter() - start
            results.append(result)
        if is_main_process():
            self._combine_oof()
        for r in results:
            log.info("%s: best %s (%s %s) in %.0f s", r.split, r.best, metric, r.score, r.seconds)
        return results

    def _combine_oof(self) -> Path | None:
        import pandas as pd

        from cxrdet.engines.runner.task_data import available_splits
        from cxrdet.io.atomic import write_csv

        folds = [s for s in available_splits(self.runner_cfg, self.data_root()) if s != "all"]
        files = [self.work_dir / f"oof_{s}.csv" for s in folds]
        if not files or not all(f.is_file() for f in files):
            return None
        out = self.work_dir / "oof.csv"
        write_csv(out, pd.concat([pd.read_csv(f, dtype={"image_id": str}) for f in files], ignore_index=True))
        log.info("out-of-fold predictions of all %d folds -> %s", len(files), out)
        return out

    # ------------------------------------------------------------------ inference

    def load_model(self, checkpoint, device: str | None = None):
        """The config's model with ``checkpoint``'s weights, in eval mode on ``device`` (None: the engine's)."""
        from cxrdet.engines.runner.model import torch_device
        from cxrdet.engines.runner.task_model import load_task_model

        return load_task_model(self.runner_cfg, checkpoint, torch_device(device or self.cfg.get("device")))

    def classes(self, checkpoint) -> tuple[str, ...] | None:
        """The class names ``checkpoint`` was trained with (mmengine records the dataset's metainfo); the file is
        read once per version (:func:`~cxrdet.engines.runner.model.record_of`)."""
        from cxrdet.engines.runner.model import record_of

        names = record_of(checkpoint).get("detector_classes")
        return tuple(str(n) for n in names) if names else None

    def checkpoint_meta(self, checkpoint: str | os.PathLike) -> DatasetMeta | None:
        names = self.classes(checkpoint)
        return DatasetMeta(names, None) if names else None

    def sources(self, source: str | os.PathLike) -> list:
        from cxrdet.io.sources import find_images

        return find_images(source)

    def predict(self, checkpoint: str | os.PathLike, items: Sequence, **options: Any) -> PredictResult:
        """Options: ``batch``, ``device``, ``progress`` (others of ``cxrdet predict`` do not apply and are ignored)."""
        from cxrdet.engines.runner.task_predict import build_pipeline, predict_files, rows_frame

        model = self.load_model(checkpoint, options.get("device"))
        classes = self.classes(checkpoint)
        rows, failures, seconds = predict_files(
            model,
            build_pipeline(self.runner_cfg),
            list(items),
            classes,
            batch=int(options.get("batch") or 8),
            progress=bool(options.get("progress", False)),
        )
        meta = DatasetMeta(classes, None) if classes else DatasetMeta(("value",), None)
        return PredictResult(None, failures, seconds, {"imgsz": _input_size(self.runner_cfg)}, meta, rows_frame(rows))

    def _split_of(self, checkpoint) -> str:
        from cxrdet.engines.runner.model import record_of

        return str(record_of(checkpoint).get("split") or "all")

    def test(self, checkpoint: str | os.PathLike, split: str | None = None) -> TaskTestResult:
        """mmengine's test loop with ``checkpoint`` on ``split``'s validation subset (default: its own split)."""
        from mmengine.runner import Runner

        import cxrdet.engines.runner.curves
        import cxrdet.engines.runner.hooks  # noqa: F401
        from cxrdet.engines.checkpoint import trusted_checkpoints

        split = split or self._split_of(checkpoint)
        if split == "untrained":
            split = "all"
        cfg = self.split_cfg(split, work_dir=self.work_dir.resolve() / split / "test")
        if "test_dataloader" not in cfg or "test_evaluator" not in cfg:
            cfg.test_dataloader, cfg.test_evaluator = cfg.val_dataloader, cfg.val_evaluator
            cfg.test_cfg = cfg.get("test_cfg") or {}
        for evaluator in cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]:
            if "plot_dir" in evaluator and not evaluator["plot_dir"]:
                evaluator["plot_dir"] = str(cfg.work_dir)  # a metric that draws (e.g. bone age per age group)
        cfg.load_from, cfg.resume = str(Path(checkpoint).resolve()), False
        with default_scope_kept():
            runner = Runner.from_cfg(cfg)
            with trusted_checkpoints([checkpoint]):
                metrics = runner.test()
        report = next((m.last_report for m in runner.test_evaluator.metrics if getattr(m, "last_report", None)), None)
        parameters = sum(p.numel() for p in runner.model.parameters())
        return TaskTestResult({k: float(v) for k, v in (metrics or {}).items()}, report, parameters, split)

    def write_oof(self, checkpoint: str | os.PathLike, split: str, out: str | os.PathLike) -> Path:
        from cxrdet.engines.runner.task_data import set_task_split
        from cxrdet.engines.runner.task_predict import dataset_of, predict_dataset, rows_frame
        from cxrdet.io.atomic import write_csv

        cfg = copy_config(self.runner_cfg)
        set_task_split(cfg, split, self.data_root())
        rows = predict_dataset(self.load_model(checkpoint), dataset_of(cfg, "val_dataloader"))
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_csv(out, rows_frame(rows))
        log.info("out-of-fold predictions of %s: %d images -> %s", split, len(rows), out)
        return out

    def untrained_checkpoint(self, out: str | os.PathLike) -> Path:
        import torch

        from cxrdet.engines.runner.task_data import set_task_split
        from cxrdet.engines.runner.task_model import build_task_model
        from cxrdet.engines.runner.task_predict import dataset_of
        from cxrdet.io.atomic import atomic_path

        seed = (self.runner_cfg.get("randomness") or {}).get("seed")
        torch.manual_seed(0 if seed is None else int(seed))
        model = build_task_model(self.runner_cfg)
        model.init_weights()
        cfg = copy_config(self.runner_cfg)
        set_task_split(cfg, "all", self.data_root())
        classes = (dataset_of(cfg, "val_dataloader").metainfo or {}).get("classes")
        meta = {"cxrdet": {"engine": ENGINE, "split": "untrained"}}
        if classes:
            meta["dataset_meta"] = {"classes": [str(c) for c in classes]}
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)
        return out

    def describe(self) -> str:
        cfg = self.runner_cfg
        model = cfg.model
        backbone = model.get("backbone") or {}
        name = str(backbone.get("model_name") or backbone.get("type") or model.get("type"))
        size = _input_size(cfg)
        epochs = (cfg.get("train_cfg") or {}).get("max_epochs")
        return f"{name}{f' at {size} px' if size else ''}" + (f", {epochs} epochs" if epochs else "")


def _input_size(cfg) -> int | None:
    """The test pipeline's final size (its last Resize / CenterCrop), or None."""
    from cxrdet.engines.runner.model import test_pipeline_steps

    try:
        steps = test_pipeline_steps(cfg)
    except ConfigError:
        return None
    size = None
    for step in steps:
        value = step.get("scale") or step.get("crop_size")
        if value is not None:
            size = max(value) if isinstance(value, (list, tuple)) else int(value)
    return size
