"""Benchmarking, memory: a call run in its own fresh Python process, with that process's peak memory.

A process's peak resident set size never falls, so measuring several models in one process would report the
largest seen so far for all of them. :func:`run_isolated` runs ``module:function(**kwargs)`` in a new
interpreter (``python -m cxrdet.benchmarking.memory``), and reports its peak RSS (:func:`peak_rss_bytes`) before and
after the call and, where the call used CUDA, torch's ``max_memory_allocated``
(also since the process started, so the call's own). Arguments and the return value travel as JSON.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MemoryPeak:
    """Peak memory of one isolated call.

    Attributes:
        rss_before_bytes: the process's peak RSS before the call (interpreter and the target's imports).
        rss_peak_bytes: its peak RSS at the end of the call (the process's whole life).
        cuda_max_allocated_bytes: torch's ``max_memory_allocated`` when the call used CUDA, else None.
    """

    rss_before_bytes: int
    rss_peak_bytes: int
    cuda_max_allocated_bytes: int | None = None

    @property
    def rss_growth_bytes(self) -> int:
        """How much the call raised the peak RSS (``rss_peak_bytes - rss_before_bytes``)."""
        return self.rss_peak_bytes - self.rss_before_bytes


@dataclass(frozen=True)
class IsolatedResult:
    """What :func:`run_isolated` brought back: the call's JSON value, its memory and its wall seconds."""

    value: Any
    memory: MemoryPeak
    seconds: float


class IsolatedError(RuntimeError):
    """The isolated call raised, or its process died (the message says which, with the reason)."""


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far, in bytes.

    Linux: ``VmHWM`` of ``/proc/self/status`` (the high-water mark of this program's memory, new at ``exec``;
    ``getrusage``'s ``ru_maxrss`` would carry the parent's peak into a child started by fork + exec).
    Elsewhere: ``ru_maxrss`` (bytes on macOS, KiB on other systems).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # "VmHWM:   123456 kB"
    import resource

    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(value) if sys.platform == "darwin" else int(value) * 1024


def _cuda_peak() -> int | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return int(max(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count())))


def _resolve(target: str) -> Any:
    module, sep, name = target.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"target {target!r}: expected 'package.module:function'")
    return getattr(importlib.import_module(module), name)


def run_isolated(
    target: str,
    kwargs: Mapping[str, Any] | None = None,
    sys_path: Sequence[str | os.PathLike] = (),
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> IsolatedResult:
    """Runs ``target(**kwargs)`` in a fresh Python process and returns its value and peak memory.

    Args:
        target: ``'package.module:function'``; the function takes JSON-able keyword arguments and returns a
            JSON-able value.
        kwargs: its arguments.
        sys_path: folders put first on the child's ``sys.path`` (e.g. a folder of helper modules).
        timeout: seconds before the child is killed (None: no limit).
        env: extra environment variables for the child.

    Raises:
        IsolatedError: the call raised (its exception type, message and traceback's last lines), or the
            process exited without a result (its exit status and the end of its stderr), or timed out.
    """
    with tempfile.TemporaryDirectory(prefix="cxrdet-isolated-") as tmp:
        spec = Path(tmp) / "spec.json"
        out = Path(tmp) / "result.json"
        spec.write_text(
            json.dumps({"target": target, "kwargs": dict(kwargs or {}), "sys_path": [str(p) for p in sys_path]})
        )
        child_env = {**os.environ, **(env or {})}
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "cxrdet.benchmarking.memory", str(spec), str(out)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=child_env,
            )
        except subprocess.TimeoutExpired:
            raise IsolatedError(f"{target}: no result within {timeout:g} s (the process was killed)") from None
        seconds = time.perf_counter() - start
        if not out.is_file():
            tail = proc.stderr.strip().splitlines()[-5:]
            how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
            raise IsolatedError(f"{target}: the process ended ({how}) without a result: " + " | ".join(tail))
        data = json.loads(out.read_text())
    if "error" in data:
        raise IsolatedError(f"{target}: {data['error']}\n{data.get('traceback', '')}".rstrip())
    return IsolatedResult(value=data["value"], memory=MemoryPeak(**data["memory"]), seconds=seconds)


def _child(spec_path: str, out_path: str) -> int:
    """The child side of :func:`run_isolated`: import, measure, call, measure, write the JSON result."""
    spec = json.loads(Path(spec_path).read_text())
    sys.path[:0] = spec["sys_path"]
    try:
        fn = _resolve(spec["target"])
        before = peak_rss_bytes()
        value = fn(**spec["kwargs"])
        memory = MemoryPeak(before, peak_rss_bytes(), _cuda_peak())
        result = {"value": value, "memory": asdict(memory)}
        text = json.dumps(result)
    except BaseException as err:
        lines = traceback.format_exc().strip().splitlines()[-6:]
        text = json.dumps({"error": f"{type(err).__name__}: {err}", "traceback": "\n".join(lines)})
    Path(out_path).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2]))
