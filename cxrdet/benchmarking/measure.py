"""Benchmarking, one config's row: parameters, GFLOPs at its size, latency and throughput, peak memory.

:func:`measure_config` is what a benchmark runs for each config in its own process
(:func:`cxrdet.benchmarking.memory.run_isolated` with target ``cxrdet.benchmarking.measure:measure_config``),
so that the peak memory it reports is this config's alone; everything it returns is plain JSON. The timing
comes first and the memory figures are read right after it (the inference at ``batch`` is what they
describe); the count at the config's full size (a traced forward) follows.
"""

from __future__ import annotations

import platform
import time
from typing import Any

from cxrdet.benchmarking.counting import MMDET_CONVENTION, ULTRALYTICS_CONVENTION
from cxrdet.benchmarking.detectors import load_detector
from cxrdet.benchmarking.memory import peak_rss_bytes
from cxrdet.benchmarking.timing import cuda_sync, latency, throughput


def device_name(device: str) -> str:
    """A readable name of ``device``: the GPU's name for CUDA, the CPU model and torch's thread count else."""
    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {torch.get_num_threads()} torch threads"


def measure_config(
    config: str,
    size: int | None = 256,
    batch: int = 4,
    repeats: int = 10,
    warmup: int = 2,
    device: str = "cpu",
    count: bool = True,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Builds ``config``'s network (offline, random weights) and measures it.

    Args:
        config: the config file.
        size: square input (px) of the latency and throughput runs (padded to the model's size divisor);
            None: the config's own size.
        batch: images per call of the throughput run.
        repeats, warmup: timed and untimed calls of each timing run.
        device: ``'cpu'`` or ``'cuda'`` / ``'cuda:N'``.
        count: also count parameters and multiply-adds at the config's own size.
        options: ``--cfg-options`` for the config.

    Returns:
        ``config``, ``name``, ``engine``, ``config_size`` (h, w), ``params``, ``gflops_mmdet`` and
        ``gflops_ultralytics`` (at ``config_size``; None without ``count``), ``latency`` and ``throughput``
        (:meth:`TimingStats.summary` at ``size``), ``peak_rss_mb`` (the process after timing),
        ``cuda_max_allocated_mb`` (None on CPU), ``device``, ``build_s``, ``removed`` (pretrained references
        dropped to build offline) and the two conventions' wording.
    """
    import torch

    start = time.perf_counter()
    det = load_detector(config, options)
    build_s = time.perf_counter() - start
    det.to(device)
    sync = cuda_sync(device)
    one = det.inputs(1, size, device=device)
    many = det.inputs(batch, size, device=device)
    lat = latency(lambda: det.forward(*one), repeats=repeats, warmup=warmup, sync=sync)
    thr = throughput(lambda: det.forward(*many), batch=batch, repeats=max(1, repeats // 2), warmup=1, sync=sync)
    cuda = torch.cuda.max_memory_allocated(torch.device(device)) if str(device).startswith("cuda") else None
    row: dict[str, Any] = {
        "config": str(config),
        "name": det.name,
        "engine": det.engine,
        "device": device_name(device),
        "config_size": list(det.size),
        "input_size": list(det.padded(size)),
        "build_s": build_s,
        "latency": lat.summary(),
        "throughput": thr.summary(),
        "peak_rss_mb": peak_rss_bytes() / 2**20,
        "cuda_max_allocated_mb": None if cuda is None else cuda / 2**20,
        "removed": det.removed,
        "conventions": {"gflops_mmdet": MMDET_CONVENTION, "gflops_ultralytics": ULTRALYTICS_CONVENTION},
        "params": None,
        "gflops_mmdet": None,
        "gflops_ultralytics": None,
    }
    if count:
        det.to("cpu")
        c = det.complexity()
        row.update(params=c.params, gflops_mmdet=c.gflops_mmdet, gflops_ultralytics=c.gflops_ultralytics)
    return row
