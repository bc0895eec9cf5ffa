"""Crash-isolated parallel map for batch jobs (the decoding workers of ``convert`` and ``predict``).

Decoders are native code: a damaged file can make one abort the interpreter (an uncaught C++ exception
is SIGABRT), segfault, panic in Rust (a ``BaseException`` that ``except Exception`` does not catch) or loop
forever. Each task therefore runs in a worker process of a `pebble <https://pypi.org/project/Pebble/>`_
pool: a worker that dies or overruns its timeout costs that one task, which comes back as a
:class:`Crashed` result naming what happened; pebble replaces the worker and the batch goes on.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_NOT_CAUGHT = (KeyboardInterrupt, SystemExit, GeneratorExit)
DEFAULT_MEMORY_HEADROOM = 8 << 30
"""Bytes a worker may allocate beyond its inherited address space (a 3072 x 3072 radiograph needs < 0.5 GiB)."""


@dataclass(frozen=True)
class Crashed:
    """A task that did not return: its worker died, it ran past the timeout, or it raised.

    Attributes:
        kind: ``"crashed"`` or ``"timed out"``.
        detail: what happened, without any value from the input (no exception text: it could quote a
            patient's data), e.g. ``"SIGABRT in the worker process"``.
    """

    kind: str
    detail: str

    def describe(self, what: str = "task") -> str:
        """E.g. ``"decoder crashed: SIGABRT in the worker process"`` for ``what="decoder"``."""
        return f"{what} {self.kind}: {self.detail}"


def signal_name(exitcode: int | None) -> str:
    """``SIGABRT`` for a process killed by signal 6 (exit code -6), ``exit code 3`` otherwise."""
    if exitcode is not None and exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


def _guarded(fn: Callable[[Any], Any], item: Any) -> Any:
    """Runs ``fn(item)`` in the worker; anything it raises, ``BaseException`` included, becomes :class:`Crashed`."""
    try:
        return fn(item)
    except _NOT_CAUGHT:
        raise
    except BaseException as err:  # e.g. pyo3's PanicException from a Rust decoder
        return Crashed("crashed", f"{type(err).__name__} raised in the worker process")


def _virtual_memory_size() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _limit_memory(headroom: int) -> None:
    """Cap this process's address space at what it has now plus ``headroom`` bytes (Linux)."""
    import resource

    size = _virtual_memory_size()
    if size is None:
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + headroom if hard == resource.RLIM_INFINITY else min(size + headroom, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _start_worker(initializer: Callable[[], None] | None, memory_headroom: int | None) -> None:
    """Worker set-up: memory cap, no faulthandler dump (a crash is an expected, reported outcome), ``initializer``."""
    faulthandler.disable()
    if memory_headroom:
        _limit_memory(memory_headroom)
    if initializer is not None:
        initializer()


def _outcome(future, timeout: float | None) -> Any:
    from pebble import ProcessExpired

    try:
        return future.result()
    except ProcessExpired as err:
        return Crashed("crashed", f"{signal_name(err.exitcode)} in the worker process")
    except FutureTimeout:
        return Crashed("timed out", f"after {timeout:g} s (the worker was stopped)")
    except _NOT_CAUGHT:
        raise
    except BaseException as err:  # e.g. a result that cannot be pickled
        return Crashed("crashed", f"{type(err).__name__} while passing the result back")


@contextlib.contextmanager
def _opencv_single_threaded() -> Iterator[None]:
    """OpenCV's thread pool off in this process while workers fork from it (a forked child could wait on its locks)."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def isolated_map(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    workers: int,
    timeout: float | None = None,
    initializer: Callable[[], None] | None = None,
    window: int | None = None,
    memory_headroom: int | None = DEFAULT_MEMORY_HEADROOM,
) -> Iterator[tuple[Any, Any]]:
    """``(item, fn(item))`` for every item, in order, each computed in a crash-isolated worker process.

    Workers are forked (they inherit this process's imports, so they start at once). At most ``window``
    tasks are in flight or finished-but-not-yet-yielded (default ``4 * workers``), which bounds memory.

    Args:
        fn: a picklable function of one item (module level).
        items: the inputs.
        workers: worker processes (at least 1: even one worker keeps a crash out of this process).
        timeout: seconds one task may run before its worker is stopped (None: no limit).
        initializer: called once in every new worker.
        window: tasks in flight.
        memory_headroom: bytes each worker may allocate beyond what it inherited (a decompression bomb
            then raises MemoryError in its worker instead of waking the kernel's OOM killer); None: no cap.

    Yields:
        ``(item, result)`` where ``result`` is ``fn``'s return value or a :class:`Crashed`.
    """
    from pebble import ProcessPool

    workers = max(1, int(workers))
    window = max(workers, int(window or 4 * workers))
    pending: deque = deque()
    with _opencv_single_threaded():
        pool = ProcessPool(
            max_workers=workers,
            initializer=_start_worker,
            initargs=(initializer, memory_headroom),
            context=multiprocessing.get_context("fork"),
        )
        try:
            for item in items:
                pending.append((item, pool.submit(_guarded, timeout, fn, item)))
                if len(pending) >= window:
                    done, future = pending.popleft()
                    yield done, _outcome(future, timeout)
            while pending:
                done, future = pending.popleft()
                yield done, _outcome(future, timeout)
        finally:
            pool.stop()
            pool.join()
