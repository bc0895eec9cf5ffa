"""Runner engine for custom models, data: which split and subset every dataset of a loaded config reads.

A custom model's datasets (``cxrdet.datasets``: class folders, the RSNA bone-age CSV, a convert folder's
normal/abnormal labels) take ``data_root``, ``split`` (``all`` or ``foldK``) and ``subset`` (``train`` or
``val``) and make the split themselves (seeded, stratified, grouped by patient). This module sets those keys
on the LOADED config (the train loader reads the split's training subset, the val and test loaders its
validation subset) and asks the training dataset's class which splits its data root has.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from cxrdet.engines.runner.config import check_split, leaf_datasets
from cxrdet.errors import ConfigError

SUBSETS = {"train_dataloader": "train", "val_dataloader": "val", "test_dataloader": "val"}
_NOT_SPLIT_OPTIONS = ("type", "pipeline", "split", "subset", "data_root", "serialize_data", "lazy_init", "test_mode")


def set_task_split(cfg, split: str, data_root: str | Path) -> None:
    """Points every dataset of ``cfg`` (changed in place) at ``split`` of ``data_root``: train/val subsets."""
    root = str(Path(data_root).resolve())
    cfg.data_root = root
    for loader, subset in SUBSETS.items():
        section = cfg.get(loader)
        if not section:
            continue
        for dataset in leaf_datasets(section.get("dataset")):
            dataset["data_root"] = root
            dataset["split"] = check_split(split)
            dataset["subset"] = subset


def train_dataset_cfg(cfg) -> dict:
    """The (first) dataset config the training loader reads."""
    for dataset in leaf_datasets((cfg.get("train_dataloader") or {}).get("dataset")):
        return dict(copy.deepcopy(dataset))
    raise ConfigError("the config has no train_dataloader.dataset")


def dataset_class(dataset_cfg: dict, scope: str = "cxrdet"):
    """The registered class a dataset config names."""
    from mmengine.registry import DefaultScope

    from cxrdet.registry import DATASETS

    with DefaultScope.overwrite_default_scope(scope):
        cls = DATASETS.get(dataset_cfg.get("type"))
    if cls is None:
        raise ConfigError(f"dataset type {dataset_cfg.get('type')!r} is not registered")
    return cls


def split_options(dataset_cfg: dict) -> dict[str, Any]:
    """The dataset's options that decide its splits (seed, folds, files), without pipeline and split keys."""
    return {k: v for k, v in dataset_cfg.items() if k not in _NOT_SPLIT_OPTIONS}


def available_splits(cfg, data_root: str | Path) -> list[str]:
    """``all`` and the folds the training dataset can make of ``data_root``."""
    dataset = train_dataset_cfg(cfg)
    cls = dataset_class(dataset, str(cfg.get("default_scope") or "cxrdet"))
    if not hasattr(cls, "available_splits"):
        return ["all"]
    return list(cls.available_splits(str(Path(data_root).resolve()), **split_options(dataset)))


def select_task_splits(cfg, data_root: str | Path, fold: list[int] | None, all_folds: bool) -> list[str]:
    """``--fold K`` (repeatable) / ``--all-folds`` / neither (``all``) -> split names the data root has."""
    if fold and all_folds:
        raise ConfigError("give --fold K or --all-folds, not both")
    if not fold and not all_folds:
        return ["all"]
    splits = available_splits(cfg, data_root)
    folds = [s for s in splits if s != "all"]
    if all_folds:
        if not folds:
            raise ConfigError(f"{data_root}: the dataset makes no folds (set num_folds in its config)")
        return folds
    chosen = [f"fold{k}" for k in fold or []]
    missing = [s for s in chosen if s not in splits]
    if missing:
        raise ConfigError(f"{data_root}: no split {missing[0]!r} (available: {', '.join(splits)})")
    return chosen
