"""Benchmarking, custom models: ``cxrdet train`` and the plain PyTorch loop interleaved, iteration by iteration.

Two runs in separate processes minutes apart see different machines on a shared VM (the same command's iteration
time varies by up to 2x there), so their ratio measures the neighbours as much as the Runner. Here ONE ``cxrdet
train`` run of a derived config carries :class:`InterleavedPlainHook` (registered in cxrdet's ``HOOKS``; added by
:func:`interleaved_config` by its module path, which mmengine's registry imports): each Runner iteration is paired
with one iteration of :class:`~cxrdet.benchmarking.task_training.PlainLoop` on its own copy of the model, data
loader and optimiser, run after the Runner's (all other hooks done) in one pair and before its ``train_step``
(after its data loading) in the next, so neither side always follows the other. The Runner's iteration is the time
from the end of the previous one to the end of its hooks (its data loading, ``train_step`` and every hook) less the
plain iteration inside it; the plain one is timed around its own call. Each pair shares the machine's moment,
so the median of the per-pair ratios is the Runner's cost, free of slow drift. The hook writes
``interleaved.json`` in the run's work dir.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from mmengine.hooks import Hook

from cxrdet.io.atomic import write_text
from cxrdet.registry import HOOKS

RESULT = "interleaved.json"


@HOOKS.register_module()
class InterleavedPlainHook(Hook):
    """Pairs each Runner iteration with one plain-loop iteration, after it and before it in turn, and times both
    (see the module docstring).

    Args:
        config: the derived config (a :func:`~cxrdet.benchmarking.task_training.task_bench_config` file).
        data_root: the data it reads.
    """

    priority = "LOWEST"

    def __init__(self, config: str, data_root: str) -> None:
        self.config = str(config)
        self.data_root = str(data_root)
        self.loop = None
        self.runner_seconds: list[float] = []
        self.plain_seconds: list[float] = []
        self._resumed: float | None = None  # when the Runner's current iteration began (None: not a pair)
        self._inside = 0.0  # seconds of the plain iteration run inside it

    def before_train(self, runner) -> None:
        from cxrdet.benchmarking.task_training import PlainLoop

        self.loop = PlainLoop(self.config, self.data_root)

    def before_train_epoch(self, runner) -> None:
        self._resumed = None  # an epoch's first iteration also times the loader's start: not a pair

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        fetched = time.perf_counter()  # the Runner's data loading is done
        self._inside = 0.0
        if self._resumed is not None and len(self.runner_seconds) % 2 == 1:
            plain = self.loop.step()  # every other pair: the plain iteration BEFORE the Runner's train_step
            self.plain_seconds.append(plain)
            self._inside = time.perf_counter() - fetched

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        now = time.perf_counter()
        if self._resumed is None:
            self.loop.step()
        else:
            self.runner_seconds.append(now - self._resumed - self._inside)
            if len(self.runner_seconds) % 2 == 1:
                self.plain_seconds.append(self.loop.step())  # ... and AFTER it in the others
        self._resumed = time.perf_counter()

    def after_train(self, runner) -> None:
        record = dict(runner_seconds=self.runner_seconds, plain_seconds=self.plain_seconds, batch=int(self.loop.batch))
        write_text(Path(runner.work_dir) / RESULT, json.dumps(record))


@dataclass(frozen=True)
class InterleavedSpeed:
    """Paired iteration times of one interleaved run (warm-up pairs dropped).

    Attributes:
        runner_seconds: each Runner iteration.
        plain_seconds: the plain iteration paired with it (run after it, or before its ``train_step``).
        batch: images per iteration (both).
    """

    runner_seconds: tuple[float, ...]
    plain_seconds: tuple[float, ...]
    batch: int

    @property
    def ratio(self) -> float:
        """Median over pairs of plain / Runner seconds: the Runner's speed as a fraction of the plain loop's."""
        return statistics.median(p / r for r, p in zip(self.runner_seconds, self.plain_seconds))

    @property
    def runner_images_per_second(self) -> float:
        return self.batch / statistics.median(self.runner_seconds)

    @property
    def plain_images_per_second(self) -> float:
        return self.batch / statistics.median(self.plain_seconds)


def interleaved_config(config: str | os.PathLike, out: str | os.PathLike, data_root: str | os.PathLike) -> Path:
    """``config`` (a derived benchmark config) with :class:`InterleavedPlainHook` added, written to ``out``."""
    from cxrdet.config import read_config

    cfg = read_config(config)
    hook = dict(
        type=f"{__name__}.{InterleavedPlainHook.__name__}",  # a module path: mmengine's registry imports it
        config=str(Path(config).resolve()),
        data_root=str(Path(data_root).resolve()),
    )
    cfg.custom_hooks = [*list(cfg.get("custom_hooks") or []), hook]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(out))
    return out


def read_interleaved(work_dir: str | os.PathLike, skip: int = 2) -> InterleavedSpeed:
    """The ``interleaved.json`` a run left under ``work_dir`` (searched), less ``skip`` warm-up pairs.

    Raises:
        FileNotFoundError: no run left one.
        ValueError: it holds no pair after the warm-up.
    """
    found = sorted(Path(work_dir).rglob(RESULT))
    if not found:
        raise FileNotFoundError(f"{work_dir}: no {RESULT} (did the run train?)")
    record = json.loads(found[-1].read_text())
    runner, plain = record["runner_seconds"][skip:], record["plain_seconds"][skip:]
    if not runner:
        raise ValueError(f"{found[-1]}: {len(record['runner_seconds'])} pairs, none after {skip} warm-up ones")
    return InterleavedSpeed(tuple(runner), tuple(plain), int(record["batch"]))
