"""Benchmarking, a suite of configs: each one's row measured in its own process, failures kept as rows.

:func:`benchmark_configs` is what ``cxrdet benchmark CONFIG...`` runs: for each config (with its checkpoint,
if any) a fresh Python process runs :func:`cxrdet.benchmarking.config_row.benchmark_config`
(:func:`cxrdet.benchmarking.memory.run_isolated`), so that each peak memory is that config's own. A config that
cannot be found, built or run becomes a failed row with the reason, and the next one still runs. A tqdm bar
counts the configs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TARGET = "cxrdet.benchmarking.config_row:benchmark_config"


@dataclass
class BenchmarkSettings:
    """The settings every config of one ``cxrdet benchmark`` run is measured with.

    Attributes:
        data_root: the data set of the metric and training runs (None: each config's own ``data_root``).
        imgsz: square input of every measurement (None: each config's own size).
        batch: images per throughput call.
        device: ``'cpu'``, ``'0'``, ``'cuda:0'``.
        half: half precision (CUDA only).
        train_iters: timed training iterations (0: none).
        train_batch: images per training iteration (None: ``max(2, batch)``).
        repeats, warmup: timed and untimed calls of each timing run.
        options: ``--cfg-options`` applied to every config.
        timeout: seconds one config may take before its process is killed (None: no limit).
        threads: CPU threads of each config's process and its training run (torch and OpenMP; None: their
            default). One thread gives steady CPU figures on a machine shared with other jobs.
    """

    data_root: str | None = None
    imgsz: int | None = None
    batch: int = 1
    device: str = "cpu"
    half: bool = False
    train_iters: int = 0
    train_batch: int | None = None
    repeats: int = 20
    warmup: int = 3
    options: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    threads: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for the JSON and the markdown)."""
        return asdict(self)


def failed_row(config: str | os.PathLike, reason: str, engine: str | None = None) -> dict[str, Any]:
    """The row of a config that could not be measured."""
    return {"config": str(config), "name": Path(config).stem, "engine": engine, "status": "failed", "error": reason}


def _reason(err: Exception) -> str:
    """The first line of an isolated call's error, without the target's name."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[len(TARGET) + 2 :] if text.startswith(TARGET + ": ") else text


def benchmark_one(
    config: str | os.PathLike, checkpoint: str | os.PathLike | None, settings: BenchmarkSettings
) -> dict[str, Any]:
    """One config's row, measured in its own process (a failed row when it cannot be measured)."""
    from cxrdet.benchmarking.memory import IsolatedError, run_isolated
    from cxrdet.config import resolve_path
    from cxrdet.errors import CxrdetError

    try:
        path = resolve_path(config)
    except CxrdetError as err:
        return failed_row(config, str(err))
    kwargs = {
        "config": str(path),
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "data_root": settings.data_root,
        "imgsz": settings.imgsz,
        "batch": settings.batch,
        "device": settings.device,
        "half": settings.half,
        "train_iters": settings.train_iters,
        "train_batch": settings.train_batch,
        "repeats": settings.repeats,
        "warmup": settings.warmup,
        "options": dict(settings.options),
        "timeout": settings.timeout,
        "threads": settings.threads,
    }
    env = {"CUDA_VISIBLE_DEVICES": ""} if str(settings.device) == "cpu" else {}
    if settings.threads:
        env.update(OMP_NUM_THREADS=str(settings.threads), MKL_NUM_THREADS=str(settings.threads))
    try:
        result = run_isolated(TARGET, kwargs, timeout=settings.timeout, env=env)
    except IsolatedError as err:
        return failed_row(path, _reason(err))
    row = dict(result.value)
    row["config"] = str(config)
    row["process_peak_rss_mb"] = result.memory.rss_peak_bytes / 2**20
    row["seconds"] = result.seconds
    return row


def benchmark_configs(
    configs: Sequence[str | os.PathLike],
    checkpoints: Sequence[str | os.PathLike | None] | None = None,
    settings: BenchmarkSettings | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One row per config, in order (see the module docstring).

    Args:
        configs: config files (or paths among cxrdet's shipped configs).
        checkpoints: one per config (None entries: no metric), or None for none at all.
        settings: the measurement settings (None: the defaults).
        progress: show a tqdm bar over the configs (on stderr).
    """
    from tqdm import tqdm

    settings = settings or BenchmarkSettings()
    checkpoints = list(checkpoints) if checkpoints is not None else [None] * len(configs)
    if len(checkpoints) != len(configs):
        from cxrdet.errors import ConfigError

        raise ConfigError(f"{len(checkpoints)} checkpoints for {len(configs)} configs: give one per config ('-': none)")
    rows = []
    bar = tqdm(list(zip(configs, checkpoints)), desc="benchmark", unit="config", disable=not progress)
    for config, checkpoint in bar:
        bar.set_postfix_str(Path(config).stem, refresh=True)
        rows.append(benchmark_one(config, checkpoint, settings))
    return rows


def settings_record(settings: BenchmarkSettings, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings as the report records them."""
    return {**settings.as_dict(), **dict(extra or {})}
