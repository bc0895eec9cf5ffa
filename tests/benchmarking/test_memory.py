"""cxrdet.benchmarking.memory: a call in its own process, its peak memory, and its failures reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxrdet.benchmarking.memory import IsolatedError, peak_rss_bytes, run_isolated

HERE = Path(__file__).resolve().parent
MB = 1024 * 1024


def test_peak_grows_by_a_known_allocation_and_each_process_starts_fresh():
    big = run_isolated("probes:allocate", {"nbytes": 300 * MB}, sys_path=[HERE])
    small = run_isolated("probes:nothing", sys_path=[HERE])  # after the big one: a fresh process
    assert big.value == 300 * MB and small.value == "ok"
    assert 290 * MB <= big.memory.rss_growth_bytes <= 340 * MB
    assert small.memory.rss_growth_bytes < 20 * MB
    assert small.memory.rss_peak_bytes < big.memory.rss_peak_bytes - 250 * MB
    assert big.memory.rss_before_bytes > 5 * MB  # an interpreter's resident size
    assert big.memory.cuda_max_allocated_bytes is None  # no CUDA used
    assert big.seconds > 0


def test_this_process_peak_is_bytes():
    assert 10 * MB < peak_rss_bytes() < 64 * 1024 * MB


def test_an_exception_is_reported():
    with pytest.raises(IsolatedError, match=r"probes:fail: ValueError: broken config") as err:
        run_isolated("probes:fail", {"message": "broken config"}, sys_path=[HERE])
    assert "raise ValueError(message)" in str(err.value)


def test_a_killed_process_is_reported():
    with pytest.raises(IsolatedError, match=r"probes:die: the process ended \(signal 9\) without a result"):
        run_isolated("probes:die", sys_path=[HERE])


def test_a_bad_target_is_reported():
    with pytest.raises(IsolatedError, match=r"expected 'package\.module:function'"):
        run_isolated("probes.allocate", sys_path=[HERE])
