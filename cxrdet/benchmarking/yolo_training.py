"""Benchmarking, YOLO training speed: images/s of a YOLO config through Ultralytics' own trainer, N iterations.

The run is the one ``cxrdet train`` makes (:func:`cxrdet.engines.yolo.fit.ultralytics_args` on the config and a
``cxrdet convert`` folder, cxrdet's ``CxrdetTrainer`` inside the offline sandbox), with one epoch, no plots and
main-process data loading. Two callbacks of the trainer time it: the clock is read when the epoch starts and
after every training batch (so an iteration's time includes its data loading, as mmengine's logged ``time``
does), and once ``skip + iters`` iterations are done the run is stopped (the epoch's validation and checkpoint
saving are not part of the speed and are skipped).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxrdet.benchmarking.training import TrainingError, TrainSpeed


class _Enough(Exception):
    """Raised from the batch callback to end the run after the iterations wanted."""


def yolo_train_speed(
    config: str | os.PathLike,
    data_root: str | os.PathLike,
    work_dir: str | os.PathLike,
    batch: int,
    iters: int,
    skip: int = 2,
    imgsz: int | None = None,
    device: str = "cpu",
    options: Mapping[str, Any] | None = None,
) -> TrainSpeed:
    """Trains ``config`` for ``skip + iters`` iterations with Ultralytics' trainer and times each one.

    Args:
        config: a YOLO config (``engine='ultralytics'``).
        data_root: a ``cxrdet convert`` folder (its ``all`` split, else its first fold, is trained).
        work_dir: where the run writes (Ultralytics' ``project``).
        batch: images per iteration.
        iters: timed iterations; ``skip``: warm-up iterations before them (dropped).
        imgsz: training size (None: the config's ``ultralytics.imgsz``).
        device: ``'cpu'`` or a CUDA device (``'0'``, ``'cuda:0'``).
        options: ``--cfg-options`` of the config.

    Raises:
        TrainingError: fewer than ``skip + 1`` iterations ran (too few training images for ``batch``).
    """
    from cxrdet.config import resolve_path
    from cxrdet.engines.yolo.config import resolve_config
    from cxrdet.engines.yolo.dataset import Dataset
    from cxrdet.engines.yolo.fit import check_args, ultralytics_args
    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    cfg = resolve_config(resolve_path(config), dict(options or {}))
    cfg["data_root"] = str(data_root)
    dataset = Dataset.open(data_root)
    split = "all" if "all" in dataset.splits else (dataset.splits or ["all"])[0]
    device = str(device)
    settings = cfg["ultralytics"]
    settings.update(epochs=1, batch=int(batch), workers=0, plots=False, device=device.replace("cuda:", ""))
    if imgsz:
        settings["imgsz"] = int(imgsz)
    if device == "cpu":
        settings["amp"] = False
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    ticks: list[float] = []

    def epoch_start(trainer) -> None:
        ticks.append(time.perf_counter())

    def batch_end(trainer) -> None:
        ticks.append(time.perf_counter())
        if len(ticks) > skip + iters:
            raise _Enough

    start = time.perf_counter()
    with ultralytics_sandbox(work_dir):
        from cxrdet.engines.yolo.trainer import CxrdetTrainer

        args = ultralytics_args(cfg, dataset, split, work_dir)
        check_args(args)
        trainer = CxrdetTrainer(overrides=args)
        trainer.add_callback("on_train_epoch_start", epoch_start)
        trainer.add_callback("on_train_batch_end", batch_end)
        with contextlib.suppress(_Enough):
            trainer.train()
    seconds = [b - a for a, b in itertools.pairwise(ticks)]
    if len(seconds) <= skip:
        raise TrainingError(
            f"Ultralytics' trainer ran {len(seconds)} iterations on {data_root} (split {split}, batch {batch}): "
            f"need more than {skip} warm-up ones; give more training images or a smaller --batch"
        )
    return TrainSpeed("Ultralytics trainer", tuple(seconds[skip:]), int(batch), time.perf_counter() - start)
