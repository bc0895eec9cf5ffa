"""Config building block: one section (``model``, ``optim_wrapper``, ...) of a config shipped in mmdet's wheel.

mmengine refuses two ``_base_`` files that define the same key, and mmdet ships the DETR, DINO and DetectoRS
models only inside full configs (with COCO's data settings), so a cxrdet config cannot list one of them
beside ``configs/mmdet/_base_/vindr_detection.py``. It takes the model from mmdet's own file instead:

    import cxrdet.models.mmdet_sections as mmdet_sections
    model = mmdet_sections.section("mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py", "model",
                                   backbone=dict(init_cfg=None))

(mmengine drops module objects from a parsed config, so the import leaves no key behind.)
"""

from __future__ import annotations

import copy
import os.path as osp
from functools import lru_cache
from typing import Any

from mmengine.config import Config
from mmengine.utils import get_installed_path

from cxrdet.errors import ConfigError

PREFIX = "mmdet::"


def mmdet_config_path(name: str) -> str:
    """The file of ``mmdet::dir/name.py`` (or ``dir/name.py``) in the installed mmdet wheel.

    Raises:
        ConfigError: no such config in the wheel.
    """
    relative = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    path = osp.join(get_installed_path("mmdet"), ".mim", "configs", relative)
    if not osp.isfile(path):
        raise ConfigError(f"mmdet ships no config {relative!r} (looked in {osp.dirname(path)})")
    return path


@lru_cache(maxsize=16)
def _load(path: str) -> dict:
    return Config.fromfile(path).to_dict()


def merge(base: Any, override: Any) -> Any:
    """``override`` merged into a copy of ``base`` by mmengine's rules: dicts key by key, ``_delete_=True``
    replaces the dict, anything else (lists included) replaces the value."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    override = dict(override)
    if override.pop("_delete_", False):
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if key in out else copy.deepcopy(value)
    return out


def section(name: str, key: str, **overrides: Any) -> Any:
    """The top-level ``key`` of mmdet's config ``name`` (after its own ``_base_``), with ``overrides`` merged in.

    Args:
        name: ``mmdet::dir/file.py`` as in a ``_base_`` list.
        key: a top-level key (``model``, ``optim_wrapper``, ``param_scheduler``, ...).
        **overrides: merged into the section (a dict) by :func:`merge`.

    Raises:
        ConfigError: no such config or no such key in it.
    """
    cfg = _load(mmdet_config_path(name))
    if key not in cfg:
        raise ConfigError(f"mmdet's config {name!r} has no {key!r} (it has: {', '.join(sorted(cfg))})")
    value = copy.deepcopy(cfg[key])
    return merge(value, overrides) if overrides else value
