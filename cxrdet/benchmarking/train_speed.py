"""Benchmarking, training speed of any config: N iterations through its engine's real trainer, images/s.

* ``engine='ultralytics'``: Ultralytics' trainer as ``cxrdet train`` sets it up (:mod:`.yolo_training`);
* ``engine='mmdet'`` and ``engine='mmengine'``: ``cxrdet train`` (mmengine's Runner) in its own process on the
  derived config the detector and custom-model benchmarks train (:func:`cxrdet.benchmarking.training.bench_config`,
  :func:`cxrdet.benchmarking.task_training.task_bench_config`: one epoch, no validation, a log line per
  iteration), its training set cut to ``(skip + iters) x batch`` images (mmengine's dataset ``indices``), the
  speed read from the iteration times mmengine logs.

Images/s is ``batch / median iteration time`` after ``skip`` warm-up iterations, data loading included.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxrdet.benchmarking.training import TrainSpeed, train_with_cxrdet
from cxrdet.errors import ConfigError


def _limit_training_set(config: Path, images: int) -> None:
    """Rewrites a derived config so that its training datasets hold their first ``images`` images."""
    from mmengine.config import Config

    from cxrdet.engines.runner.config import leaf_datasets

    cfg = Config.fromfile(str(config))
    for dataset in leaf_datasets(cfg.train_dataloader.get("dataset")):
        dataset["indices"] = int(images)
    cfg.dump(str(config))


def _config_data_root(config: str | os.PathLike, engine: str, options: Mapping[str, Any] | None) -> str | None:
    """The ``data_root`` the config itself names."""
    from cxrdet.config import read_config, resolve_path

    if engine == "ultralytics":
        from cxrdet.engines.yolo.config import resolve_config

        return resolve_config(resolve_path(config), dict(options or {})).get("data_root")
    return read_config(resolve_path(config), options).get("data_root")


def config_train_speed(
    config: str | os.PathLike,
    engine: str,
    data_root: str | os.PathLike | None,
    work_dir: str | os.PathLike,
    iters: int,
    batch: int = 2,
    imgsz: int | None = None,
    device: str = "cpu",
    skip: int = 2,
    options: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> TrainSpeed:
    """Training speed of ``config`` over ``iters`` timed iterations (plus ``skip`` warm-up ones).

    Args:
        config: the config file.
        engine: its engine name (``ultralytics``, ``mmdet``, ``mmengine``).
        data_root: the data set trained on: a ``cxrdet convert`` folder for detectors, the task's folder for
            custom models (None: the config's ``data_root``).
        work_dir: where the run writes.
        iters, skip: timed and warm-up iterations.
        batch: images per iteration.
        imgsz: the square training size (None: the config's own).
        device: ``'cpu'`` or a CUDA device.
        options: ``--cfg-options`` of the config.
        timeout: seconds before a Runner run is killed.

    Raises:
        ConfigError: no ``data_root`` folder, or an engine without a training benchmark.
        TrainingError: the run failed or logged too few iterations.
    """
    data_root = data_root or _config_data_root(config, engine, options)
    if not data_root or not Path(data_root).is_dir():
        raise ConfigError(
            f"--train-iters trains on real images: give --data-root (the config's data_root {data_root!r} "
            "is not a folder)"
        )
    work_dir = Path(work_dir)
    if engine == "ultralytics":
        from cxrdet.benchmarking.yolo_training import yolo_train_speed

        return yolo_train_speed(config, data_root, work_dir, batch, iters, skip, imgsz, device, options)
    derived = work_dir / "bench_config.py"
    if engine == "mmdet":
        from cxrdet.benchmarking.detectors import config_input_size
        from cxrdet.benchmarking.training import bench_config
        from cxrdet.config import read_config, resolve_path

        size = imgsz or max(config_input_size(read_config(resolve_path(config), options)))
        bench_config(config, derived, data_root, size=int(size), batch=batch, options=options)
    elif engine == "mmengine":
        from cxrdet.benchmarking.task_training import task_bench_config

        task_bench_config(config, derived, data_root, batch=batch, size=imgsz, options=options)
    else:
        raise ConfigError(f"engine={engine!r}: no training benchmark for this engine")
    _limit_training_set(derived, (skip + iters) * batch)
    on = "cpu" if str(device) == "cpu" else "cuda"
    return train_with_cxrdet(derived, data_root, work_dir / "run", batch, skip=skip, timeout=timeout, device=on)
