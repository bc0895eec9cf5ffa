"""Runner engine, checkpoints: a weights-only ``*_weights.pth`` beside every checkpoint the Runner keeps.

mmengine's checkpoints pickle a MessageHub (HistoryBuffers, numpy arrays): torch >= 2.6 refuses them under
its safe default ``weights_only=True``, which mmdet's own ``tools/test.py`` uses. Beside each ``X.pth``
of the run folder this hook writes ``X_weights.pth``: the state dict and plain ``meta`` (strings, numbers,
lists, dicts), loadable by ``torch.load(weights_only=True)``. It also records in every checkpoint's meta
what prediction needs (``meta['cxrdet']``: the data set's class list, PNG size and bit depth, the split),
and removes a weights file whose checkpoint the Runner deleted (``max_keep_ckpts``, an older best).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mmengine.hooks import Hook

from cxrdet.registry import HOOKS

log = logging.getLogger(__name__)

WEIGHTS_SUFFIX = "_weights.pth"
RECORD_KEY = "cxrdet"


def plain(value: Any) -> Any:
    """``value`` with only what ``torch.load(weights_only=True)`` reads: str, numbers, bool, None, lists, dicts.

    numpy scalars become Python numbers, tuples become lists, anything else its ``str``.
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return str(value)


def epoch_based(runner) -> bool:
    """Whether the runner's training loop counts epochs (else iterations)."""
    return runner.train_loop.__class__.__name__.startswith("Epoch")


def steps_done(runner) -> int:
    """Finished epochs of an epoch-based loop, finished iterations of an iteration-based one."""
    return int(runner.epoch) if epoch_based(runner) else int(runner.iter)


def weights_path(checkpoint: str | Path) -> Path:
    """``X.pth`` -> ``X_weights.pth``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + WEIGHTS_SUFFIX)


def write_weights(checkpoint: str | Path, trusted_root: str | Path) -> Path:
    """Writes the weights-only file of a full mmengine checkpoint (loaded as trusted: ``trusted_root`` holds it)."""
    import torch
    from mmengine.runner.checkpoint import _load_checkpoint

    from cxrdet.engines.checkpoint import trusted_checkpoints

    with trusted_checkpoints([trusted_root]):
        full = _load_checkpoint(str(checkpoint), map_location="cpu", logger="silent")
    out = weights_path(checkpoint)
    tmp = out.with_name(f".{out.name}.tmp")
    torch.save({"meta": plain(full.get("meta") or {}), "state_dict": full["state_dict"]}, tmp)
    tmp.replace(out)
    return out


@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Keeps a ``*_weights.pth`` beside each checkpoint of the run folder and records cxrdet's settings.

    Args:
        record: plain values added to every checkpoint's ``meta['cxrdet']`` (e.g. ``png_size``,
            ``bit_depth``, ``dataset``: the class list, ``split``); None adds nothing.
    """

    priority = "LOWEST"  # after the CheckpointHook (VERY_LOW) has saved or removed its files

    def __init__(self, record: dict | None = None) -> None:
        self.record = plain(dict(record or {}))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.record:
            checkpoint.setdefault("meta", {})[RECORD_KEY] = dict(self.record)

    def _sync(self, runner) -> None:
        from mmengine.dist import is_main_process

        if not is_main_process():
            return
        root = Path(runner.work_dir)
        for ckpt in sorted(root.glob("*.pth")):
            if ckpt.name.endswith(WEIGHTS_SUFFIX):
                if not ckpt.with_name(ckpt.name[: -len(WEIGHTS_SUFFIX)] + ".pth").is_file():
                    ckpt.unlink()  # its checkpoint was removed by the Runner
                continue
            weights = weights_path(ckpt)
            if not weights.is_file() or weights.stat().st_mtime_ns < ckpt.stat().st_mtime_ns:
                write_weights(ckpt, root)
                log.debug("weights-only checkpoint %s", weights)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not epoch_based(runner):
            self._sync(runner)

    def after_train_epoch(self, runner) -> None:
        self._sync(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._sync(runner)

    def after_train(self, runner) -> None:
        self._sync(runner)
