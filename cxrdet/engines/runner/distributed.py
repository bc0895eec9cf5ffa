"""Runner engine, scale-out: data-parallel training under ``torchrun`` (``--launcher pytorch``), on CPU too.

mmengine's pytorch launcher calls ``torch.cuda.set_device`` (fails without a GPU), so on CPU the gloo
process group is initialised here first and the Runner then skips its own initialisation; mmengine's
default DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU modules, so the wrapper
gets ``device_ids=None``; SyncBN has no CPU implementation, so it becomes plain BN (with a warning).
On a GPU machine nothing changes: mmengine's own NCCL path runs.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from cxrdet.errors import ConfigError

log = logging.getLogger(__name__)

TORCHRUN_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _replace_sync_bn(node: Any) -> int:
    """SyncBN -> BN in every ``norm_cfg`` of a config tree (in place); returns how many were replaced."""
    count = 0
    if isinstance(node, dict):
        if node.get("type") in ("SyncBN", "MMSyncBN", "SyncBatchNorm"):
            node["type"] = "BN"
            count += 1
        for value in node.values():
            count += _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_sync_bn(value)
    return count


def cpu_only() -> bool:
    """Whether this process trains on CPU (no CUDA device visible)."""
    import torch

    return not torch.cuda.is_available()


def init_gloo() -> None:
    """Joins torchrun's process group with the gloo backend (once; needs torchrun's environment).

    Raises:
        ConfigError: not started by torchrun (its environment variables are missing).
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return
    missing = [k for k in TORCHRUN_KEYS if k not in os.environ]
    if missing:
        raise ConfigError(
            f"--launcher pytorch: {', '.join(missing)} not set; start it with torchrun --nproc_per_node N ..."
        )
    dist.init_process_group(backend="gloo")
    log.info("gloo process group: rank %s of %s", os.environ["RANK"], os.environ["WORLD_SIZE"])


def configure_cpu_ddp(cfg) -> None:
    """Prepares a Runner config (in place) for ``launcher='pytorch'`` without a GPU; a no-op with CUDA."""
    if not cpu_only():
        return
    env = dict(cfg.get("env_cfg") or {})
    env["dist_cfg"] = dict(env.get("dist_cfg") or {}, backend="gloo")
    cfg.env_cfg = env
    wrapper = dict(cfg.get("model_wrapper_cfg") or {"type": "MMDistributedDataParallel"})
    wrapper["device_ids"] = None
    cfg.model_wrapper_cfg = wrapper
    replaced = _replace_sync_bn(cfg.model)
    if replaced:
        log.warning("SyncBN has no CPU implementation: %d SyncBN layer config(s) trained as plain BN", replaced)
    init_gloo()


def is_main_process() -> bool:
    """Rank 0, or not distributed."""
    from mmengine.dist import is_main_process as main

    return main()
