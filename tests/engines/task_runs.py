"""Shared by the custom-model engine tests: the configs folder, a quiet engine of a config, one torch thread.

Import ``one_thread`` into a test module to use it (an autouse, module-scoped fixture: the module's training
fixtures run under it too)."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).parents[2] / "configs"
QUIET = {"log_level": "WARNING"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny convolutions run fastest on one thread (and do not fight other processes for the cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def task_engine(config: str | Path, data: Path, work: Path, **options):
    """The engine of ``config`` (relative to ``configs/``, or a path) on ``data``, run folder ``work``, quiet
    logs, ``options`` merged over that."""
    from cxrdet.config import merge
    from cxrdet.engines.base import engine_of_config

    return engine_of_config(CONFIGS / config, merge(dict(QUIET, data_root=str(data), work_dir=str(work)), options))
