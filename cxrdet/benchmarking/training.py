"""Benchmarking, training speed: images/s of a config through ``cxrdet train`` and through mmdet's own ``train.py``.

Both runs train the SAME derived config (:func:`bench_config`: the config as loaded, with its images
resized to a small square ``size``, one epoch over a data set of ``iters x batch`` images, no validation, a
log line per iteration with mmengine's smoothing window set to 1, data loading in the main process), each in
its own process: ``python mmdet/.mim/tools/train.py`` (the copy in the mmdet wheel) and ``python -m
cxrdet.cli train``. The speed of each is read from the iteration times mmengine itself logs
(``vis_data/scalars.json``: ``time`` of each iteration, data loading included), the first ``skip`` dropped
as warm-up: :attr:`TrainSpeed.images_per_second` is ``batch / median iteration time``. The wall time of the
whole command (start-up, model building and checkpoint saving included) is kept beside it.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxrdet.benchmarking.detectors import RESIZE_TYPES

LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")


@dataclass(frozen=True)
class TrainSpeed:
    """Training speed of one run.

    Attributes:
        tool: ``'mmdet train.py'`` or ``'cxrdet train'``.
        iteration_seconds: logged time of each iteration after the warm-up ones.
        batch: images per iteration.
        wall_seconds: the whole command, start-up included.
    """

    tool: str
    iteration_seconds: tuple[float, ...]
    batch: int
    wall_seconds: float

    @property
    def median_iteration(self) -> float:
        """Median seconds per training iteration."""
        return statistics.median(self.iteration_seconds)

    @property
    def images_per_second(self) -> float:
        """Training images per second: ``batch / median iteration``."""
        return self.batch / self.median_iteration


class TrainingError(RuntimeError):
    """A training run failed or logged no iteration (the message has the end of its output)."""


def mmdet_train_script() -> Path:
    """mmdet's ``tools/train.py`` as the mmdet wheel ships it (``mmdet/.mim/tools/train.py``)."""
    import importlib.util

    spec = importlib.util.find_spec("mmdet")  # found without importing mmdet (seconds)
    if spec is None or spec.origin is None:
        raise TrainingError("mmdet is not installed: no tools/train.py to compare with")
    return Path(spec.origin).parent / ".mim" / "tools" / "train.py"


def cxrdet_trains_mmdet() -> bool:
    """Whether ``cxrdet train`` has an engine for mmdet configs (``engine = 'mmdet'``)."""
    from cxrdet.engines.base import ENGINES

    return "mmdet" in ENGINES


def _resize_pipeline(pipeline: Sequence[Any], size: int) -> list:
    out = []
    for step in pipeline:
        step = dict(step)
        kind = str(step.get("type", "")).split(".")[-1]
        if kind in RESIZE_TYPES:
            step = {k: v for k, v in step.items() if k not in ("scale", "scales", "width", "height", "ratio_range")}
            step.update(type="Resize", scale=(size, size), keep_ratio=True)
        elif kind in ("RandomCrop", "RandomChoice", "RandomCenterCropPad"):
            continue  # multi-scale crops of a full-size recipe: a plain resize is the small-image run
        elif kind == "Pad" and "size" in step:
            step["size"] = (size, size)
        out.append(step)
    return out


def bench_datasets(cfg, batch: int) -> Iterator[Any]:
    """Sets every loader of ``cfg`` to load in the main process and the training one to ``batch`` images (in
    place); yields each loader's datasets (inside wrappers) for the caller's changes."""
    for name in LOADERS:
        loader = cfg.get(name)
        if not loader:
            continue
        loader.update(num_workers=0, persistent_workers=False)
        if name == "train_dataloader":
            loader["batch_size"] = int(batch)
        from cxrdet.engines.runner.config import leaf_datasets

        yield from leaf_datasets(loader.get("dataset"))


def one_logged_epoch(cfg) -> None:
    """One training epoch without validation, each iteration logged with mmengine's smoothing window 1 (in place)."""
    cfg.train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=1, val_interval=10**6)
    hooks = copy.deepcopy(dict(cfg.get("default_hooks") or {}))
    hooks["logger"] = dict(dict(hooks.get("logger") or {"type": "LoggerHook"}), interval=1)
    hooks["checkpoint"] = dict(dict(hooks.get("checkpoint") or {"type": "CheckpointHook"}), interval=1)
    cfg.default_hooks = hooks
    cfg.log_processor = dict(dict(cfg.get("log_processor") or {}), window_size=1, by_epoch=True)


def bench_config(
    config: str | os.PathLike,
    out: str | os.PathLike,
    data_root: str | os.PathLike,
    size: int = 256,
    batch: int = 2,
    ann_file: str = "coco/all.json",
    options: Mapping[str, Any] | None = None,
) -> Path:
    """Writes the derived config both tools train (see the module docstring); returns its path.

    Args:
        config: the config file (``_base_`` and ``mmdet::`` bases are resolved: the file written is flat).
        out: the ``.py`` to write.
        data_root: a ``cxrdet convert`` folder (its PNGs at ``size``) set on every dataset.
        size: the square image size of every pipeline's resize.
        batch: the training batch size.
        ann_file: the COCO file (relative to ``data_root``) every loader reads.
        options: ``--cfg-options`` applied before the changes.
    """
    from cxrdet.config import read_config, resolve_path

    cfg = read_config(resolve_path(config), options)
    root = str(Path(data_root).resolve())
    cfg.data_root = root
    for dataset in bench_datasets(cfg, batch):
        dataset.update(data_root=root, ann_file=ann_file)
        if "pipeline" in dataset:
            dataset["pipeline"] = _resize_pipeline(dataset["pipeline"], size)
    for key in ("train_pipeline", "test_pipeline"):
        if key in cfg:
            cfg[key] = _resize_pipeline(cfg[key], size)
    one_logged_epoch(cfg)
    cfg.visualizer = dict(type="DetLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")], name="visualizer")
    cfg.pop("auto_scale_lr", None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(out))
    return out


def iteration_times(work_dir: str | os.PathLike) -> list[float]:
    """The ``time`` of every logged training iteration under ``work_dir`` (mmengine's ``vis_data/scalars.json``),
    in order (the newest run's file when there are several). A training line has a loss (``loss``, or only its
    parts: the feature GAN logs ``loss_d``, ``loss_g``, ...); validation lines have none."""
    files = sorted(Path(work_dir).rglob("vis_data/scalars.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return []
    times = []
    for line in files[-1].read_text().splitlines():
        record = json.loads(line) if line.strip() else {}
        if "time" in record and any(k.startswith("loss") for k in record):  # training lines: validation has no loss
            times.append(float(record["time"]))
    return times


def _run(
    tool: str, command: list[str], work_dir: Path, batch: int, skip: int, timeout: float | None, device: str
) -> TrainSpeed:
    work_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # mmengine trains on a GPU whenever it sees one
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=work_dir, env=env)
    except subprocess.TimeoutExpired:
        raise TrainingError(f"{tool}: no end within {timeout:g} s") from None
    wall = time.perf_counter() - start
    (work_dir / "stdout.log").write_text(proc.stdout + "\n" + proc.stderr)
    times = iteration_times(work_dir)
    if proc.returncode != 0 or len(times) <= skip:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise TrainingError(
            f"{tool}: exit status {proc.returncode}, {len(times)} iterations logged "
            f"(log: {work_dir / 'stdout.log'}): {tail}"
        )
    return TrainSpeed(tool, tuple(times[skip:]), batch, wall)


def train_with_mmdet_tool(
    config: str | os.PathLike,
    work_dir: str | os.PathLike,
    batch: int,
    skip: int = 2,
    timeout: float | None = None,
    device: str = "cpu",
) -> TrainSpeed:
    """Trains ``config`` (a :func:`bench_config` file) with mmdet's own ``tools/train.py``.

    ``device``: ``'cpu'`` hides every GPU from the run; else mmengine's choice (a visible GPU).
    """
    work_dir = Path(work_dir).resolve()
    command = [sys.executable, str(mmdet_train_script()), str(Path(config).resolve()), "--work-dir", str(work_dir)]
    return _run("mmdet train.py", command, work_dir, batch, skip, timeout, device)


def train_with_cxrdet(
    config: str | os.PathLike,
    data_root: str | os.PathLike,
    work_dir: str | os.PathLike,
    batch: int,
    skip: int = 2,
    timeout: float | None = None,
    device: str = "cpu",
) -> TrainSpeed:
    """Trains ``config`` (a :func:`bench_config` file) with ``cxrdet train`` (split ``all``: no OOF pass).

    ``device``: as :func:`train_with_mmdet_tool`.
    """
    work_dir = Path(work_dir).resolve()
    command = [
        sys.executable,
        "-m",
        "cxrdet.cli",
        "train",
        str(Path(config).resolve()),
        "--data-root",
        str(Path(data_root).resolve()),
        "-o",
        str(work_dir / "run"),
    ]
    return _run("cxrdet train", command, work_dir, batch, skip, timeout, device)
