"""cxrdet.benchmarking.timing: statistics on a fake clock (hand-computed values) and on a known sleep."""

from __future__ import annotations

import time

import pytest

from cxrdet.benchmarking.timing import TimingStats, cuda_sync, latency, throughput, time_calls


class FakeClock:
    """A clock that each timed call advances by the next of ``durations`` (seconds)."""

    def __init__(self, durations: list[float]) -> None:
        self.now = 100.0
        self.durations = list(durations)
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        if self.calls > self.warmup:
            self.now += self.durations.pop(0)

    warmup = 0


def test_latency_on_a_fake_clock():
    clock = FakeClock([0.010, 0.030, 0.020, 0.050, 0.040])
    clock.warmup = 2
    stats = latency(clock.work, repeats=5, warmup=2, clock=clock)
    assert clock.calls == 7  # 2 untimed + 5 timed
    assert stats.seconds == pytest.approx((0.010, 0.030, 0.020, 0.050, 0.040))
    assert stats.median == pytest.approx(0.030)
    assert stats.mean == pytest.approx(0.030)
    assert stats.minimum == pytest.approx(0.010) and stats.maximum == pytest.approx(0.050)
    # sorted 10, 20, 30, 40, 50 ms: inclusive quartiles at positions 1 and 3 -> 20 and 40 ms
    assert stats.quartiles == pytest.approx((0.020, 0.040))
    assert stats.iqr == pytest.approx(0.020)
    assert stats.stdev == pytest.approx(0.0158113883, rel=1e-6)  # sqrt(sum((x - 30 ms)^2) / 4)
    assert stats.per_image == pytest.approx(0.030)
    assert stats.images_per_second == pytest.approx(1 / 0.030)


def test_throughput_divides_by_the_batch():
    clock = FakeClock([0.2, 0.4, 0.3, 0.9])
    stats = throughput(clock.work, batch=8, repeats=4, warmup=0, clock=clock)
    assert stats.median == pytest.approx(0.35)  # (0.3 + 0.4) / 2
    assert stats.per_image == pytest.approx(0.35 / 8)
    assert stats.images_per_second == pytest.approx(8 / 0.35)
    summary = stats.summary()
    assert summary["batch"] == 8 and summary["repeats"] == 4
    assert summary["median_ms"] == pytest.approx(350.0) and summary["max_ms"] == pytest.approx(900.0)
    assert summary["images_per_s"] == pytest.approx(8 / 0.35)


def test_sync_runs_before_each_clock_reading():
    events = []
    time_calls(lambda: events.append("call"), repeats=2, warmup=1, sync=lambda: events.append("sync"))
    assert events == ["call", "sync", "call", "sync", "call", "sync"]


def test_a_known_sleep():
    stats = latency(lambda: time.sleep(0.02), repeats=5, warmup=1)
    assert 0.02 <= stats.median < 0.06  # a sleep never returns early; a loaded machine may add a little
    assert stats.minimum >= 0.02
    assert len(stats.seconds) == 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        time_calls(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup must be >= 0"):
        time_calls(lambda: None, warmup=-1)
    with pytest.raises(ValueError, match="at least one"):
        TimingStats(())
    with pytest.raises(ValueError, match="batch must be >= 1"):
        TimingStats((1.0,), batch=0)


def test_one_repeat_and_cpu_sync():
    stats = TimingStats((0.5,))
    assert stats.quartiles == (0.5, 0.5) and stats.stdev == 0.0 and stats.iqr == 0.0
    sync = cuda_sync("cpu")
    assert sync() is None
