"""Benchmarking, one config's row of ``cxrdet benchmark``: any engine's network measured in its own process.

:func:`benchmark_config` is the target :func:`cxrdet.benchmarking.memory.run_isolated` runs for each config
(``cxrdet.benchmarking.config_row:benchmark_config``), so the peak memory it reports is that config's alone.
In that process, in this order:

1. the untrained network is built offline by its engine's builder (YOLO through the Ultralytics engine's
   untrained checkpoint, mmdet detectors by :func:`~cxrdet.benchmarking.detectors.load_detector`, custom models
   by :func:`~cxrdet.benchmarking.task_networks.load_task_network`); a YOLO network is fused (Conv + BN) and, on
   an x86 CPU, put in channels-last memory format, as Ultralytics' predictor runs it;
2. latency at batch 1 and throughput at ``batch`` (:mod:`.timing`: median and quartiles after a warm-up) of the
   network forward on ``device`` (optionally in half precision), then the peak memory: the process's peak RSS
   and, on CUDA, torch's ``max_memory_allocated`` (the inference is what they describe);
3. parameters and multiply-adds at the same input (:mod:`.counting`, on CPU, on the unfused network: what
   Ultralytics' ``model.info()`` and mmdet's ``get_flops.py`` count), in both GFLOPs conventions;
4. with a checkpoint, the task's metric through the engine's ``test`` (:mod:`.task_metric`);
5. with ``train_iters``, the training images/s through the engine's real trainer (:mod:`.train_speed`).

Everything returned is plain JSON.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxrdet.benchmarking.counting import MMDET_CONVENTION, ULTRALYTICS_CONVENTION
from cxrdet.benchmarking.memory import peak_rss_bytes
from cxrdet.benchmarking.timing import cuda_sync, latency, throughput

YOLOV5U_NOTE = (
    "Ultralytics' YOLOv5 is YOLOv5u (anchor-free split head): e.g. s has 9.1 M parameters, the write-up's "
    "original YOLOv5s 7.3 M"
)


def config_engine_name(config: str | os.PathLike, options: Mapping[str, Any] | None = None) -> str:
    """The engine a config names in its ``engine`` key (``--cfg-options engine=`` wins; default ultralytics)."""
    from cxrdet.config import resolve_path
    from cxrdet.engines.base import engine_class_of_config

    return engine_class_of_config(resolve_path(config), options).name


def load_network(config: str | os.PathLike, engine: str, options: Mapping[str, Any] | None = None):
    """The untrained network of ``config`` as a :class:`~cxrdet.benchmarking.detectors.Detector` (any engine)."""
    if engine == "mmengine":
        from cxrdet.benchmarking.task_networks import load_task_network

        return load_task_network(config, options)
    from cxrdet.benchmarking.detectors import load_detector

    return load_detector(config, options)


def model_name(config: str | os.PathLike, engine: str, options: Mapping[str, Any] | None = None) -> str:
    """A short model name: ``yolov5su`` (YOLOv5u), ``RetinaNet ResNet-18``, ``ImageClassifier VGG``."""
    from cxrdet.config import read_config, resolve_path

    if engine == "ultralytics":
        from cxrdet.engines.yolo.config import model_yaml, resolve_config

        return Path(model_yaml(resolve_config(resolve_path(config), dict(options or {}))["model"])).stem
    model = read_config(resolve_path(config), options).get("model") or {}
    backbone = model.get("backbone") or {}
    kind = str(model.get("type", "?")).split(".")[-1]
    part = str(backbone.get("model_name") or backbone.get("type") or "").split(".")[-1]
    depth = backbone.get("depth")
    if part and depth:
        part = f"{part}-{depth}"
    return f"{kind} {part}".strip()


def ultralytics_channels_last(device: str) -> bool:
    """Whether Ultralytics' predictor (``AutoBackend``, Ultralytics >= 8.4) runs a PyTorch model in channels-last
    memory format on ``device``: by default on an x86 CPU with oneDNN under Linux or Windows, not on CUDA."""
    import platform

    import torch

    return (
        str(device) == "cpu"
        and platform.machine() in {"AMD64", "x86_64"}
        and platform.system() in {"Linux", "Windows"}
        and torch.backends.mkldnn.is_available()
        and bool(torch.backends.mkldnn.enabled)
    )


def prepare_for_timing(net: Any, device: str, half: bool = False) -> bool:
    """Puts a built network on ``device`` as its tool runs it for inference (in place); returns whether it is in
    channels-last memory format. A YOLO network is fused (Conv + BN) and, where Ultralytics' predictor does so,
    channels-last (:func:`ultralytics_channels_last`); ``half``: float16."""
    import torch

    net.to(device)
    channels_last = False
    if net.engine == "ultralytics":
        net.model = net.model.fuse(verbose=False)  # Ultralytics' predictor runs the fused network
        channels_last = ultralytics_channels_last(device)
        if channels_last:
            net.model.to(memory_format=torch.channels_last)
    if half:
        net.model.half()
    return channels_last


def _device(device: str) -> str:
    from cxrdet.engines.runner.model import torch_device

    return torch_device(device)


def _half(inputs: tuple) -> tuple:
    import torch

    return tuple(x.half() if isinstance(x, torch.Tensor) else x for x in inputs)


def benchmark_config(
    config: str,
    checkpoint: str | None = None,
    data_root: str | None = None,
    imgsz: int | None = None,
    batch: int = 1,
    device: str = "cpu",
    half: bool = False,
    train_iters: int = 0,
    train_batch: int | None = None,
    repeats: int = 20,
    warmup: int = 3,
    options: dict[str, Any] | None = None,
    timeout: float | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Measures one config (see the module docstring); returns its row.

    Args:
        config: the config file.
        checkpoint: a trained checkpoint for the metric (None: no metric).
        data_root: the data set of the metric and the training run (None: the config's).
        imgsz: the square input of every measurement (None: the config's own size); padded to the network's
            size divisor.
        batch: images per call of the throughput run.
        device: ``'cpu'``, ``'0'``, ``'cuda:0'``.
        half: time in half precision (CUDA only).
        train_iters: timed training iterations (0: no training run).
        train_batch: images per training iteration (None: ``max(2, batch)``).
        repeats, warmup: timed and untimed calls of each timing run.
        options: ``--cfg-options`` of the config.
        timeout: seconds before the training run is killed.
        threads: torch's CPU threads in this process (None: torch's default).

    Returns:
        The row: ``config``, ``name``, ``engine``, ``model``, ``input_size`` (h, w), ``params``, ``gflops_mmdet``,
        ``gflops_ultralytics``, ``latency_ms`` / ``latency_iqr_ms`` (batch 1), ``throughput_img_s`` (at
        ``batch``), ``latency`` and ``throughput`` (every statistic), ``peak_rss_mb``, ``cuda_max_allocated_mb``,
        ``metric`` / ``metric_value`` / ``metrics``, ``train_img_s`` / ``train``, ``notes``, ``status='ok'``.
    """
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    dev = _device(device)
    if half and not dev.startswith("cuda"):
        from cxrdet.errors import ConfigError

        raise ConfigError("--half times in float16, which needs a CUDA device (--device 0)")
    engine = config_engine_name(config, options)
    start = time.perf_counter()
    net = load_network(config, engine, options)
    build_s = time.perf_counter() - start
    size = net.padded(imgsz)
    channels_last = prepare_for_timing(net, dev, half)
    one = net.inputs(1, size, device=dev)
    many = net.inputs(batch, size, device=dev)
    if half:
        one, many = _half(one), _half(many)
    sync = cuda_sync(dev)
    lat = latency(lambda: net.forward(*one), repeats=repeats, warmup=warmup, sync=sync)
    thr = throughput(lambda: net.forward(*many), batch=batch, repeats=max(1, repeats // 2), warmup=1, sync=sync)
    rss_mb = peak_rss_bytes() / 2**20
    cuda_mb = torch.cuda.max_memory_allocated(torch.device(dev)) / 2**20 if dev.startswith("cuda") else None
    if engine == "ultralytics":
        net = load_network(config, engine, options)  # unfused: what model.info() counts
    net.model.float()
    net.to("cpu")
    counted = net.complexity(size)
    row: dict[str, Any] = {
        "config": str(config),
        "name": net.name,
        "engine": engine,
        "model": model_name(config, engine, options),
        "input_size": list(size),
        "params": counted.params,
        "gflops_mmdet": counted.gflops_mmdet,
        "gflops_ultralytics": counted.gflops_ultralytics,
        "latency_ms": lat.median * 1e3,
        "latency_iqr_ms": lat.iqr * 1e3,
        "batch": int(batch),
        "throughput_img_s": thr.images_per_second,
        "latency": lat.summary(),
        "throughput": thr.summary(),
        "peak_rss_mb": rss_mb,
        "cuda_max_allocated_mb": cuda_mb,
        "device": dev,
        "threads": torch.get_num_threads(),
        "channels_last": channels_last,
        "half": bool(half),
        "build_s": build_s,
        "removed": list(net.removed),
        "conventions": {"gflops_mmdet": MMDET_CONVENTION, "gflops_ultralytics": ULTRALYTICS_CONVENTION},
        "checkpoint": checkpoint,
        "metric": None,
        "metric_value": None,
        "metrics": {},
        "train_img_s": None,
        "train": None,
        "notes": [YOLOV5U_NOTE] if engine == "ultralytics" else [],
        "status": "ok",
        "error": None,
    }
    with tempfile.TemporaryDirectory(prefix="cxrdet-benchmark-") as tmp:
        if checkpoint:
            from cxrdet.benchmarking.task_metric import checkpoint_metric

            found = checkpoint_metric(config, checkpoint, data_root, Path(tmp) / "test", device, options)
            row.update(metric=found["metric"], metric_value=found["value"], metrics=found["metrics"])
        if train_iters:
            from cxrdet.benchmarking.train_speed import config_train_speed

            tb = int(train_batch or max(2, batch))
            speed = config_train_speed(
                config,
                engine,
                data_root,
                Path(tmp) / "train",
                train_iters,
                tb,
                imgsz,
                dev,
                options=options,
                timeout=timeout,
            )
            row["train_img_s"] = speed.images_per_second
            row["train"] = {
                "tool": speed.tool,
                "batch": speed.batch,
                "iters": len(speed.iteration_seconds),
                "median_iteration_s": speed.median_iteration,
                "images_per_s": speed.images_per_second,
                "wall_s": speed.wall_seconds,
                "size": imgsz,
            }
    return row
