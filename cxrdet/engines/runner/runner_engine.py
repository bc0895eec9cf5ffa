"""Runner engine, what its two kinds share: mmengine configs trained split by split through mmengine's own Runner.

:class:`RunnerEngine` holds the loaded config and a summary of it, turns the command-line shortcut flags into
config options, resolves ``--resume`` for each split and runs one split's Runner (:meth:`RunnerEngine.fit_split`:
the best checkpoint and its score come from mmengine's CheckpointHook). Its subclasses own the data:
:class:`~cxrdet.engines.runner.engine.MMDetEngine` (detectors on a convert folder's COCO files) and
:class:`~cxrdet.engines.runner.task_engine.TaskEngine` (cxrdet's custom models on their own datasets).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cxrdet.engines.base import Engine, TrainResult
from cxrdet.errors import ConfigError

log = logging.getLogger(__name__)

CXRDET_KEYS = ("device", "launcher")  # flags that are not mmengine config keys


def best_metric_of(cfg) -> str | None:
    """The metric the config's CheckpointHook keeps the best checkpoint by (None: not set)."""
    checkpoint = (cfg.get("default_hooks") or {}).get("checkpoint") or {}
    best = checkpoint.get("save_best")
    return None if best in (None, "auto") else str(best if isinstance(best, str) else best[0])


def model_checkpoints(cfg) -> list[str]:
    """Checkpoint files the model section names itself (``model.<part>_checkpoint``, e.g. the feature GAN's
    ``extractor_checkpoint``): given by the user like ``load_from``, so trusted like it while training."""
    model = cfg.get("model") or {}
    return [str(v) for k, v in model.items() if str(k).endswith("_checkpoint") and isinstance(v, str) and v]


@contextlib.contextmanager
def default_scope_kept() -> Iterator[None]:
    """mmengine's current ``DefaultScope`` after the block is the one before it.

    A Runner makes its config's ``default_scope`` the process's current scope for good; after a ``cxrdet``-scope
    run, mmdet code that builds from mmdet's registries without naming a scope would look in cxrdet's. mmengine's
    own ``DefaultScope.overwrite_default_scope`` restores the same way (the instances dict as it was).
    """
    from mmengine.registry import DefaultScope

    saved = DefaultScope._instance_dict.copy()
    try:
        yield
    finally:
        DefaultScope._instance_dict = saved


class RunnerEngine(Engine):
    """An engine whose configs are mmengine configs run by mmengine's Runner.

    Args:
        cfg: the engine's summary (``data_root``, ``work_dir``, ``load_from``, ``resume``, ``launcher``,
            ``device`` and the subclass's own keys).
        config_path: the config file.
        runner_cfg: the loaded mmengine ``Config`` (``--cfg-options`` applied).
    """

    def __init__(self, cfg: Mapping[str, Any], config_path: str | os.PathLike | None = None, runner_cfg=None) -> None:
        super().__init__(cfg, config_path)
        self.runner_cfg = runner_cfg

    @classmethod
    def load(cls, path: str | os.PathLike | None, options: Mapping[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        """The loaded config of ``path`` with ``options`` and the summary keys every Runner engine has.

        Raises:
            ConfigError: no config, another engine's config, or no model section.
        """
        from cxrdet.config import read_config

        if path is None:
            raise ConfigError(f"the {cls.name} engine needs its config: cxrdet predict CONFIG CHECKPOINT")
        options = dict(options or {})
        extra = {k: options.pop(k) for k in CXRDET_KEYS if k in options}
        cfg = read_config(path, options)
        if cfg.get("engine") != cls.name:
            raise ConfigError(f"{path}: engine={cfg.get('engine')!r}, not {cls.name!r}")
        if "model" not in cfg:
            raise ConfigError(f"{path}: no model section (the config needs model=dict(...))")
        summary = {
            "engine": cls.name,
            "data_root": cfg.get("data_root"),
            "work_dir": str(cfg.get("work_dir") or Path("work_dirs") / Path(path).stem),
            "load_from": cfg.get("load_from"),
            "resume": cfg.get("resume"),
            "launcher": str(extra.get("launcher") or "none"),  # the flag only, as mmdet's tools/train.py
            "device": extra.get("device"),
        }
        return cfg, summary

    @staticmethod
    def flag_options(
        data_root: str | None = None,
        work_dir: str | None = None,
        load_from: str | None = None,
        device: str | None = None,
    ) -> dict[str, Any]:
        pairs = (("data_root", data_root), ("work_dir", work_dir), ("load_from", load_from), ("device", device))
        return {k: v for k, v in pairs if v}

    @property
    def experiment(self) -> str:
        """mmengine's experiment name prefix: the config's stem."""
        return Path(self.config_path).stem if self.config_path else self.name

    def resume_sources(self, splits: Sequence[str], resume: bool | str | None) -> dict[str, Path | None]:
        """``--resume`` (auto, a path, None; the config's ``resume`` when None) -> each split's checkpoint."""
        from cxrdet.engines.runner.config import resume_source

        resume = self.cfg.get("resume") if resume is None else resume
        if resume not in (None, False, True, "auto") and len(splits) > 1:
            raise ConfigError("--resume PATH continues one split; give one --fold (or --resume auto for every split)")
        if self.cfg.get("device"):
            log.warning(
                "--device %s: the %s engine trains on mmengine's device (CUDA when visible; choose GPUs with "
                "CUDA_VISIBLE_DEVICES); --device applies to its predictions",
                self.cfg["device"],
                self.name,
            )
        return {s: resume_source(self.work_dir.resolve() / s, resume) for s in splits}

    def write_resolved_config(self) -> Path:
        """``<work_dir>/config.py``: the config as loaded (``_base_`` merged, ``--cfg-options`` applied)."""
        from cxrdet.engines.runner.distributed import is_main_process
        from cxrdet.io.atomic import write_text

        out = self.work_dir / "config.py"
        if is_main_process():
            out.parent.mkdir(parents=True, exist_ok=True)
            write_text(out, self.runner_cfg.pretty_text)
        return out

    def fit_split(self, split: str, cfg, metric: str) -> TrainResult:
        """Trains one split's Runner config (:func:`~cxrdet.engines.runner.config.run_config`); no OOF file."""
        from mmengine.runner import Runner

        import cxrdet.engines.runner.curves
        import cxrdet.engines.runner.hooks  # noqa: F401 - registers cxrdet's hooks
        from cxrdet.engines.checkpoint import trusted_checkpoints

        split_dir = Path(cfg.work_dir)
        start = time.perf_counter()
        with default_scope_kept():
            if "runner_type" in cfg:
                from mmengine.registry import RUNNERS

                runner = RUNNERS.build(cfg)
            else:
                runner = Runner.from_cfg(cfg)
            trusted = [split_dir] + ([cfg.load_from] if cfg.get("load_from") else []) + model_checkpoints(cfg)
            with trusted_checkpoints(trusted):
                runner.train()
        best = runner.message_hub.get_info("best_ckpt")
        score = runner.message_hub.get_info("best_score")
        last = split_dir / "last_checkpoint"
        if not best and last.is_file():
            best = last.read_text().strip()
        best_path = Path(best) if best else split_dir
        seconds = time.perf_counter() - start
        return TrainResult(split, split_dir, best_path, None if score is None else float(score), None, seconds, metric)
