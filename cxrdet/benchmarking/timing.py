"""Benchmarking, timing: latency of a call (median and spread over repeats after a warm-up) and throughput.

A measurement runs the call ``warmup`` times untimed (first-call allocation, lazy initialisation, kernel
selection), then ``repeats`` times, each timed on its own with ``clock`` between two ``sync()`` calls (on
CUDA, :func:`cuda_sync` waits for the queued kernels so the clock sees the work, not the launch). The median
is the figure a table prints; the quartiles and extremes say how steady it was. The clock is a parameter so
that a test can drive it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TimingStats:
    """Seconds of each timed repeat of one call, and their summary.

    Attributes:
        seconds: the timed repeats, in order.
        batch: images per call (1 for a latency).
    """

    seconds: tuple[float, ...]
    batch: int = 1

    def __post_init__(self) -> None:
        if not self.seconds:
            raise ValueError("TimingStats needs at least one timed repeat")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")

    @property
    def median(self) -> float:
        """Median seconds per call."""
        return statistics.median(self.seconds)

    @property
    def mean(self) -> float:
        """Mean seconds per call."""
        return statistics.fmean(self.seconds)

    @property
    def stdev(self) -> float:
        """Sample standard deviation of the seconds per call (0 for one repeat)."""
        return statistics.stdev(self.seconds) if len(self.seconds) > 1 else 0.0

    @property
    def minimum(self) -> float:
        """Fastest call."""
        return min(self.seconds)

    @property
    def maximum(self) -> float:
        """Slowest call."""
        return max(self.seconds)

    @property
    def quartiles(self) -> tuple[float, float]:
        """First and third quartiles of the seconds per call (linear interpolation; both the value for one repeat)."""
        if len(self.seconds) == 1:
            return self.seconds[0], self.seconds[0]
        q1, _, q3 = statistics.quantiles(self.seconds, n=4, method="inclusive")
        return q1, q3

    @property
    def iqr(self) -> float:
        """Interquartile range of the seconds per call (the spread a table prints)."""
        q1, q3 = self.quartiles
        return q3 - q1

    @property
    def per_image(self) -> float:
        """Median seconds per image (``median / batch``)."""
        return self.median / self.batch

    @property
    def images_per_second(self) -> float:
        """Throughput from the median call: ``batch / median``."""
        return self.batch / self.median

    def summary(self) -> dict[str, float | int]:
        """The figures as a plain dict (milliseconds per call, images/s) for tables and JSON."""
        q1, q3 = self.quartiles
        return {
            "batch": self.batch,
            "repeats": len(self.seconds),
            "median_ms": self.median * 1e3,
            "iqr_ms": self.iqr * 1e3,
            "q1_ms": q1 * 1e3,
            "q3_ms": q3 * 1e3,
            "min_ms": self.minimum * 1e3,
            "max_ms": self.maximum * 1e3,
            "mean_ms": self.mean * 1e3,
            "stdev_ms": self.stdev * 1e3,
            "images_per_s": self.images_per_second,
        }


def _no_sync() -> None:
    return None


def time_calls(
    fn: Callable[[], Any],
    repeats: int = 20,
    warmup: int = 3,
    batch: int = 1,
    clock: Callable[[], float] = time.perf_counter,
    sync: Callable[[], None] | None = None,
) -> TimingStats:
    """Times ``fn()``: ``warmup`` untimed calls, then ``repeats`` calls each timed on its own.

    Args:
        fn: the call (e.g. a forward pass on prepared inputs).
        repeats: timed calls (>= 1).
        warmup: untimed calls first (>= 0).
        batch: images one call processes (for :attr:`TimingStats.per_image` and throughput).
        clock: seconds as a float (``time.perf_counter``; a test passes a fake one).
        sync: called before reading the clock, e.g. :func:`cuda_sync` (None: nothing to wait for).

    Raises:
        ValueError: ``repeats < 1`` or ``warmup < 0``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    sync = sync or _no_sync
    for _ in range(warmup):
        fn()
    sync()
    seconds = []
    for _ in range(repeats):
        start = clock()
        fn()
        sync()
        seconds.append(clock() - start)
    return TimingStats(tuple(seconds), batch=batch)


def latency(
    fn: Callable[[], Any],
    repeats: int = 20,
    warmup: int = 3,
    clock: Callable[[], float] = time.perf_counter,
    sync: Callable[[], None] | None = None,
) -> TimingStats:
    """Latency per image at batch 1: :func:`time_calls` of a call on one image."""
    return time_calls(fn, repeats=repeats, warmup=warmup, batch=1, clock=clock, sync=sync)


def throughput(
    fn: Callable[[], Any],
    batch: int,
    repeats: int = 10,
    warmup: int = 2,
    clock: Callable[[], float] = time.perf_counter,
    sync: Callable[[], None] | None = None,
) -> TimingStats:
    """Throughput at ``batch``: :func:`time_calls` of a call on ``batch`` images (see ``images_per_second``)."""
    return time_calls(fn, repeats=repeats, warmup=warmup, batch=batch, clock=clock, sync=sync)


def cuda_sync(device: Any = None) -> Callable[[], None]:
    """A ``sync`` for :func:`time_calls` that waits for ``device``'s queued CUDA kernels (a no-op on CPU)."""
    import torch

    dev = torch.device(device) if device is not None else None
    if dev is None or dev.type != "cuda":
        return _no_sync
    return lambda: torch.cuda.synchronize(dev)
