"""Crash-isolated map: an abort, a BaseException, a hang or an unpicklable result costs one task, not the batch."""

from __future__ import annotations

import os
import time

import pytest

from cxrdet.isolation import Crashed, isolated_map, signal_name


class RustPanic(BaseException):
    """Stands in for pyo3's PanicException, which derives from BaseException."""


def _task(x: int):
    if x == 3:
        os.abort()  # what an uncaught C++ exception in a decoder does
    if x == 5:
        raise RustPanic("panicked at src/lib.rs")
    if x == 7:
        time.sleep(60)
    if x == 9:
        return lambda: None  # cannot be pickled back
    if x == 11:
        os._exit(3)
    return x * x, os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_one_bad_task_costs_one_result(workers):
    out = list(isolated_map(_task, range(14), workers=workers, timeout=2.0))
    assert [item for item, _ in out] == list(range(14))  # every item, in order
    results = dict(out)
    for x in (0, 1, 2, 4, 6, 8, 10, 12, 13):
        assert results[x][0] == x * x
        assert results[x][1] != os.getpid()  # ran in a worker, not here
    assert results[3] == Crashed("crashed", "SIGABRT in the worker process")
    assert results[5] == Crashed("crashed", "RustPanic raised in the worker process")
    assert results[7].kind == "timed out" and "2 s" in results[7].detail
    assert results[9].kind == "crashed"  # pebble's worker dies sending it back: exit code 1
    assert results[11] == Crashed("crashed", "exit code 3 in the worker process")
    assert results[3].describe("decoder") == "decoder crashed: SIGABRT in the worker process"


def test_window_bounds_what_is_in_flight():
    started = []

    def items():
        for i in range(20):
            started.append(i)
            yield i

    seen = 0
    for item, _ in isolated_map(_task, items(), workers=2, window=4):
        if item in (3, 5, 7, 9, 11):
            continue
        seen += 1
        assert len(started) <= item + 1 + 4  # never more than `window` ahead of what was yielded
        if item == 2:
            break
    assert seen == 3


def test_signal_names():
    assert signal_name(-6) == "SIGABRT" and signal_name(-11) == "SIGSEGV" and signal_name(-9) == "SIGKILL"
    assert signal_name(1) == "exit code 1"


def _allocate(gib: int) -> int:
    import numpy as np

    return int(np.ones(gib << 27).sum())  # gib GiB of float64


def test_a_memory_bomb_fails_in_its_worker():
    (_, small), (_, bomb) = isolated_map(_allocate, [0, 64], workers=1, memory_headroom=1 << 30)
    assert small == 0
    assert bomb == Crashed("crashed", "MemoryError raised in the worker process")
