"""Functions the memory tests run in a fresh process (through ``run_isolated``'s ``sys_path``)."""

from __future__ import annotations

import os
import signal


def allocate(nbytes: int) -> int:
    """Allocates ``nbytes`` and writes every page (so they are resident); returns the byte count held."""
    block = bytearray(nbytes)
    for i in range(0, nbytes, 4096):
        block[i] = 1
    return len(block)


def nothing() -> str:
    """Allocates nothing."""
    return "ok"


def fail(message: str) -> None:
    """Raises ValueError(message)."""
    raise ValueError(message)


def die() -> None:
    """Kills its own process (as an out-of-memory kill would)."""
    os.kill(os.getpid(), signal.SIGKILL)
