"""Benchmarking, custom models: training images/s through ``cxrdet train`` (mmengine's Runner) vs a plain PyTorch loop.

Both train the SAME model (the config's, full size, random weights), on the SAME data (the config's training
dataset on a synthetic example of its task, read by its own pipeline), with the same batch size and optimiser
settings: ``cxrdet train`` runs a derived config (:func:`task_bench_config`: one epoch, no validation, a log
line per iteration with mmengine's smoothing window 1, data loading in the main process) in its own process
and its speed is read from the iteration times mmengine logs (``vis_data/scalars.json``, data loading
included); :func:`plain_loop_speed` is the loop a PyTorch user writes by hand (``DataLoader`` -> the model's
data preprocessor -> ``mode='loss'`` -> backward -> step), timed per iteration the same way. The ratio is
the Runner's cost (target >= 0.9x).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxrdet.benchmarking.training import TrainingError, TrainSpeed, bench_datasets, one_logged_epoch

TASK_DIRS = (
    "configs/fracture",
    "configs/bone_age",
    "configs/classifier",
    "configs/gain",
    "configs/segmentation",
    "configs/feature_gan",
)


def _resize(pipeline: list, size: int | None) -> list:
    out = []
    for step in pipeline:
        step = dict(step)
        if size is not None:
            kind = str(step.get("type", "")).split(".")[-1]
            if kind.endswith("Resize") and "scale" in step:
                step["scale"] = (size, size)
            elif kind == "CenterCrop":
                step["crop_size"] = size
        out.append(step)
    return out


def task_bench_config(
    config: str | os.PathLike,
    out: str | os.PathLike,
    data_root: str | os.PathLike,
    batch: int = 2,
    size: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> Path:
    """Writes the derived config ``cxrdet train`` benchmarks (see the module docstring); returns its path.

    Args:
        config: an ``engine='mmengine'`` config.
        out: the ``.py`` to write.
        data_root: the synthetic example of the config's task.
        batch: the training batch size.
        size: the input size of every Resize / CenterCrop (None: the config's).
        options: ``--cfg-options`` applied first.
    """
    from cxrdet.config import read_config, resolve_path

    cfg = read_config(resolve_path(config), options)
    cfg.data_root = str(Path(data_root).resolve())
    for dataset in bench_datasets(cfg, batch):
        if "pipeline" in dataset:
            dataset["pipeline"] = _resize(dataset["pipeline"], size)
    one_logged_epoch(cfg)
    cfg.visualizer = dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend")])
    cfg.pop("param_scheduler", None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(out))
    return out


def _optimizer(cfg, model):
    """The config's optimiser (type, lr, weight decay) over the model's parameters, built by torch."""
    import torch

    settings = dict((cfg.get("optim_wrapper") or {}).get("optimizer") or {"type": "Adam", "lr": 1e-3})
    kind = str(settings.pop("type", "Adam"))
    return getattr(torch.optim, kind)([p for p in model.parameters() if p.requires_grad], **settings)


def _has_own_train_step(model) -> bool:
    from mmengine.model import BaseModel

    return type(model).train_step is not BaseModel.train_step


def _own_train_step(cfg, model):
    """``model.train_step`` over the config's optimiser wrappers, for a model with a training step of its own (the
    feature GAN's three optimisers); None for the others, which the loop steps by hand."""
    if not _has_own_train_step(model):
        return None
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope(str(cfg.get("default_scope") or "cxrdet")):
        wrappers = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    return lambda data: model.train_step(data, wrappers)


class PlainLoop:
    """The loop a PyTorch user writes by hand over a derived config's model and training data, one iteration a call.

    ``DataLoader`` (shuffled, the config's batch size, the config's pipeline) -> the model's data preprocessor ->
    ``mode='loss'`` -> backward -> the config's optimiser; a model with a training step of its own (the feature
    GAN's three optimisers) is stepped by it, after its statistics pass (its FeatureStatsHook's, in the Runner).

    Args:
        config: a :func:`task_bench_config` file (its batch size, pipeline and optimiser are used).
        data_root: the data the config reads.
        seed: torch's seed (weights, shuffling).
    """

    def __init__(self, config: str | os.PathLike, data_root: str | os.PathLike, seed: int = 0) -> None:
        import torch
        from mmengine.dataset import pseudo_collate
        from torch.utils.data import DataLoader

        from cxrdet.config import read_config
        from cxrdet.engines.runner.task_data import set_task_split
        from cxrdet.engines.runner.task_model import build_task_model
        from cxrdet.engines.runner.task_predict import dataset_of

        torch.manual_seed(seed)
        cfg = read_config(config)
        set_task_split(cfg, "all", data_root)
        dataset = dataset_of(cfg, "train_dataloader")
        self.batch = int(cfg.train_dataloader.batch_size)
        self.model = build_task_model(cfg)
        self.model.init_weights()
        self.model.train()
        self.optimizer = None if _has_own_train_step(self.model) else _optimizer(cfg, self.model)
        self.loader = DataLoader(
            dataset, batch_size=self.batch, shuffle=True, collate_fn=pseudo_collate, drop_last=True
        )
        self.own_step = _own_train_step(cfg, self.model)
        if self.own_step is not None and hasattr(self.model, "fit_feature_stats"):
            self.model.fit_feature_stats(self.loader)
        self._batches = iter(self.loader)

    def _next_batch(self):
        try:
            return next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader)
            return next(self._batches)

    def step(self) -> float:
        """One training iteration (its data loading included); returns its seconds."""
        tick = time.perf_counter()
        data = self._next_batch()
        if self.own_step is not None:
            self.own_step(data)
        else:
            model = self.model
            data = model.data_preprocessor(data, True)
            loss, _ = model.parse_losses(model(**data, mode="loss"))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return time.perf_counter() - tick


def plain_loop_speed(
    config: str | os.PathLike, data_root: str | os.PathLike, iters: int, skip: int = 2, seed: int = 0
) -> TrainSpeed:
    """Trains the derived config's model for ``iters`` iterations with :class:`PlainLoop`.

    Args:
        config: a :func:`task_bench_config` file (its batch size, pipeline and optimiser are used).
        data_root: the data the config reads.
        iters: iterations timed (plus ``skip`` warm-up ones, dropped).
        skip: warm-up iterations.
        seed: torch's seed (weights, shuffling).
    """
    start_wall = time.perf_counter()
    loop = PlainLoop(config, data_root, seed)
    times = [loop.step() for _ in range(iters + skip)]
    return TrainSpeed("plain PyTorch loop", tuple(times[skip:]), loop.batch, time.perf_counter() - start_wall)


def plain_loop_in_process(
    config: str | os.PathLike, data_root: str | os.PathLike, iters: int, timeout: float | None = None
) -> TrainSpeed:
    """:func:`plain_loop_speed` in a fresh Python process (hidden GPUs: a CPU figure, as ``cxrdet train``'s).

    Raises:
        TrainingError: the process failed or printed no result (the message has the end of its output).
    """
    command = [sys.executable, "-m", __name__, str(Path(config).resolve()), str(Path(data_root).resolve()), str(iters)]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise TrainingError(f"plain PyTorch loop: no end within {timeout:g} s") from None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise TrainingError(f"plain PyTorch loop: exit status {proc.returncode}: {tail}")
    record = json.loads(lines[-1])
    return TrainSpeed(record["tool"], tuple(record["iteration_seconds"]), record["batch"], record["wall_seconds"])


def make_task_data(config: str | os.PathLike, out: str | os.PathLike, n: int, size: int) -> Path:
    """A synthetic example of the config's task (its training dataset's type) with ``n`` images of ``size`` px."""
    from cxrdet.config import read_config, resolve_path
    from cxrdet.engines.runner.task_data import train_dataset_cfg

    cfg = read_config(resolve_path(config))
    kind = str(train_dataset_cfg(cfg).get("type"))
    out = Path(out)
    for done in (out / ".done", out / "data" / ".done"):
        if done.is_file():
            return done.parent
    if kind.endswith(("MaskedClassDataset", "SegmentationDataset")):
        from cxrdet.example.gastric import make_gastric_example

        make_gastric_example(out, n=max(4, n), size=size, overwrite=True)
    elif kind.endswith("ImageCsvDataset"):
        from cxrdet.example.imbalanced import make_imbalanced_example

        make_imbalanced_example(out, n_per_class_major=max(10, n // 3), n_test_per_class=2, size=size, overwrite=True)
    elif kind.endswith("ClassFolderDataset"):
        from cxrdet.example.fracture import make_fracture_example

        make_fracture_example(out, n_per_class=max(1, n // 2), size=size, overwrite=True)
    elif kind.endswith("BoneAgeDataset"):
        from cxrdet.example.bone_age import make_bone_age_example

        make_bone_age_example(out, n=n, size=size, overwrite=True)
    elif kind.endswith("VinDrImageDataset"):
        from cxrdet.example.make import make_example
        from cxrdet.preprocess.convert import ConvertOptions, convert

        make_example(out / "example", n_train=n, n_test=1, seed=0, sizes=[(size, size)], workers=1)
        convert(
            ConvertOptions(
                dicom_dir=out / "example" / "train",
                labels=out / "example" / "train.csv",
                out=out / "data",
                size=size,
                folds=2,
                workers=1,
                progress=False,
            )
        )
        out = out / "data"
    else:
        raise ValueError(f"{config}: no synthetic data for a {kind}")
    (Path(out) / ".done").write_text("")
    return out


if __name__ == "__main__":
    _speed = plain_loop_speed(sys.argv[1], sys.argv[2], iters=int(sys.argv[3]))
    print(json.dumps({k: getattr(_speed, k) for k in ("tool", "iteration_seconds", "batch", "wall_seconds")}))
