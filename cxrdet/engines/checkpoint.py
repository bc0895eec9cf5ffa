"""Loading mmengine checkpoints that cxrdet wrote itself, on torch >= 2.6 (``weights_only`` defaults to True).

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; its own checkpoints hold a MessageHub with
HistoryBuffers and numpy arrays, so resuming fails under torch's safe default. Allow-listing those types
is not enough (numpy 2 pickles dtypes through ``builtins.getattr``, which must never be allow-listed), so
the fix is narrow by *place* instead: inside :func:`trusted_checkpoints`, and only for files under the
directories given (a run's own ``work_dir``, or a file the user named explicitly), mmengine's local
loader uses ``weights_only=False``. Every other file, and every load outside the context, keeps torch's
safe default. Nothing is patched at import time.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def _is_under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


@contextlib.contextmanager
def trusted_checkpoints(paths: Iterable[str | os.PathLike]) -> Iterator[None]:
    """Within this context, mmengine loads full checkpoints (not only weights) from ``paths``.

    Args:
        paths: directories (e.g. the run's ``work_dir``) or files the caller vouches for.
    """
    from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

    roots = [Path(p).expanduser().resolve() for p in paths if p]
    original = CheckpointLoader._schemes[""]

    def load_from_trusted_local(filename: str, map_location=None):  # mmengine logs "Loads checkpoint by trusted_local"
        import torch

        path = Path(filename).expanduser().resolve()
        if _is_under(path, roots):
            if not path.is_file():
                raise FileNotFoundError(f"{filename} can not be found.")
            log.debug("loading cxrdet checkpoint %s (full pickle: written by this run)", path)
            return torch.load(path, map_location=map_location, weights_only=False)
        return load_from_local(filename, map_location)

    CheckpointLoader._schemes[""] = load_from_trusted_local
    try:
        yield
    finally:
        CheckpointLoader._schemes[""] = original
