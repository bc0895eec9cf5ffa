"""Test helper: run the cxrdet CLI in a subprocess with every network path cut and a fresh HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Cut every way out (a connect, a DNS lookup) before cxrdet starts, then run its CLI.
RUNNER = r"""
import socket, sys
def _no_network(*args, **kwargs):
    raise AssertionError(f"network access: {args[:2]}")
socket.socket.connect = _no_network
socket.create_connection = _no_network
socket.getaddrinfo = _no_network
from cxrdet.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_offline(home: Path, *args, cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """``cxrdet ARGS`` with the network cut, ``home`` as HOME and no Ultralytics/XDG variables inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO", "XDG_", "ULTRALYTICS"))}
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or home,
        timeout=timeout,
    )
