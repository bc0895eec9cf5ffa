"""Benchmarking, the machine a benchmark ran on: CPU model and threads, GPU, torch / CUDA and library versions.

A benchmark's figures mean little without the machine, so ``cxrdet benchmark`` writes this record into
``benchmark.json`` and the header of ``benchmark.md``. Nothing identifying is kept (no host or user name).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

LIBRARIES = ("torch", "mmcv", "mmengine", "mmdet", "ultralytics", "timm", "cxrdet")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_record(device: str = "cpu") -> dict[str, Any]:
    """The machine and software a benchmark on ``device`` (``'cpu'``, ``'cuda'``, ``'cuda:N'``) runs with.

    Returns:
        ``cpu``, ``cpu_count`` (logical CPUs), ``cpus_usable`` (those this process may run on),
        ``torch_threads``, ``gpu`` (the device's name, None on CPU), ``gpu_count``, ``cuda`` (torch's CUDA
        version), ``cudnn``, ``device``, ``python``, ``platform`` and ``versions`` (library -> version).
    """
    import torch

    cuda_ok = torch.cuda.is_available()
    gpu = None
    if str(device).startswith("cuda") and cuda_ok:
        gpu = torch.cuda.get_device_name(torch.device(device))
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": gpu,
        "gpu_count": torch.cuda.device_count() if cuda_ok else 0,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda_ok else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        "versions": {**{name: _version(name) for name in LIBRARIES}, "torch": torch.__version__},
    }


def describe_machine(record: dict[str, Any]) -> str:
    """One line for a report: ``GPU (CUDA x) / CPU, N threads; torch x``."""
    cpu = f"{record['cpu']} ({record['cpus_usable']} usable CPUs, {record['torch_threads']} torch threads)"
    where = f"{record['gpu']} (CUDA {record['cuda']}) on {cpu}" if record.get("gpu") else cpu
    return f"{where}; torch {record['versions'].get('torch')}, Python {record['python']}, {record['platform']}"
