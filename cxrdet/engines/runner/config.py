"""Runner engine, configs: a loaded mmengine config -> the Runner config of one split (a fold, or ``all``).

mmengine evaluates a config's f-strings while parsing, so a fold cannot be picked by overriding a
variable: the fold's ``ann_file``s (convert's ``coco/foldK_{train,val}.json``, ``coco/all.json``) and
``data_root`` are set here on every dataset of the LOADED config (through dataset wrappers too), with
the split's ``work_dir`` (``<work_dir>/<split>``), ``load_from``, ``resume`` and ``launcher``. The
equivalent for mmdet's own ``tools/train.py`` is a ``--cfg-options`` line (:func:`fold_cfg_options`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cxrdet.errors import ConfigError

log = logging.getLogger(__name__)

LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
BEST_METRIC = "vindr/mAP"
LAUNCHERS = ("none", "pytorch")


def check_split(split: str) -> str:
    """``all`` or ``foldK``.

    Raises:
        ConfigError: another name.
    """
    if split != "all" and not re.fullmatch(r"fold\d+", split):
        raise ConfigError(f"split {split!r}: expected foldK or all")
    return split


def ann_files(split: str) -> dict[str, str]:
    """The COCO files (relative to ``data_root``) of a split: train, val and test loaders."""
    if check_split(split) == "all":
        return {
            "train_dataloader": "coco/all.json",
            "val_dataloader": "coco/all.json",
            "test_dataloader": "coco/all.json",
        }
    return {
        "train_dataloader": f"coco/{split}_train.json",
        "val_dataloader": f"coco/{split}_val.json",
        "test_dataloader": f"coco/{split}_val.json",
    }


def leaf_datasets(dataset: Any) -> Iterator[Any]:
    """The datasets that read files, inside wrappers (``RepeatDataset``/``ClassBalancedDataset``: ``dataset``,
    ``ConcatDataset``: ``datasets``)."""
    if dataset is None:
        return
    if "datasets" in dataset:
        for child in dataset["datasets"]:
            yield from leaf_datasets(child)
    elif "dataset" in dataset:
        yield from leaf_datasets(dataset["dataset"])
    else:
        yield dataset


def available_splits(data_root: str | Path) -> list[str]:
    """``all`` and the ``foldK`` whose train and val COCO files exist under ``data_root``.

    Raises:
        ConfigError: ``data_root`` is not a ``cxrdet convert`` output with COCO files.
    """
    coco = Path(data_root) / "coco"
    if not (coco / "all.json").is_file():
        raise ConfigError(
            f"data_root={str(data_root)!r} is not a cxrdet convert output with labels (no coco/all.json); "
            "run cxrdet convert --labels ... first"
        )
    folds = sorted(
        int(m.group(1))
        for p in coco.glob("fold*_train.json")
        if (m := re.fullmatch(r"fold(\d+)_train", p.stem)) and (coco / f"fold{m.group(1)}_val.json").is_file()
    )
    return ["all"] + [f"fold{k}" for k in folds]


def select_splits(data_root: str | Path, fold: list[int] | None, all_folds: bool) -> list[str]:
    """``--fold K`` (repeatable) / ``--all-folds`` / neither (``all``) -> split names, checked against the files."""
    if fold and all_folds:
        raise ConfigError("give --fold K or --all-folds, not both")
    splits = available_splits(data_root)
    if all_folds:
        folds = [s for s in splits if s != "all"]
        if not folds:
            raise ConfigError(f"{data_root} has no folds; convert with --folds K")
        return folds
    if fold:
        chosen = [f"fold{k}" for k in fold]
        missing = [s for s in chosen if s not in splits]
        if missing:
            raise ConfigError(f"{data_root}: no split {missing[0]!r} (available: {', '.join(splits)})")
        return chosen
    return ["all"]


def set_split(cfg, split: str, data_root: str | Path) -> None:
    """Points every dataset of ``cfg`` (an mmengine ``Config``, changed in place) at ``split`` of ``data_root``."""
    root = str(Path(data_root).resolve())
    cfg.data_root = root
    for loader, ann_file in ann_files(split).items():
        section = cfg.get(loader)
        if not section:
            continue
        for dataset in leaf_datasets(section.get("dataset")):
            dataset["data_root"] = root
            dataset["ann_file"] = ann_file


def set_num_classes(model: Any, n: int) -> list[int]:
    """Sets every ``num_classes`` inside the model config (each head, each cascade stage) to ``n``, in place.

    The detector learns the data set's finding classes (``classes.json``), whatever number the config was
    written with. Returns the values that were replaced (for the log).
    """
    replaced: list[int] = []
    if isinstance(model, dict):
        if "num_classes" in model and model["num_classes"] != n:
            replaced.append(model["num_classes"])
            model["num_classes"] = n
        for value in model.values():
            replaced += set_num_classes(value, n)
    elif isinstance(model, list):
        for value in model:
            replaced += set_num_classes(value, n)
    return replaced


def fold_cfg_options(split: str, data_root: str = "data/") -> str:
    """The ``--cfg-options`` that make mmdet's ``tools/train.py`` train ``split`` (datasets not wrapped)."""
    files = ann_files(split)
    return " ".join(
        f"{loader}.dataset.{key}={value}"
        for loader in ("train_dataloader", "val_dataloader", "test_dataloader")
        for key, value in (("data_root", data_root), ("ann_file", files[loader]))
    )


def set_best_checkpoint(cfg, metric: str = BEST_METRIC, rule: str = "greater") -> None:
    """The checkpoint hook keeps the best checkpoint by ``metric`` (unless the config names another metric)."""
    hooks = dict(cfg.get("default_hooks") or {})
    checkpoint = dict(hooks.get("checkpoint") or {"type": "CheckpointHook", "interval": 1})
    if checkpoint.get("save_best") in (None, "auto"):
        checkpoint["save_best"] = metric
        checkpoint["rule"] = rule
    hooks["checkpoint"] = checkpoint
    cfg.default_hooks = hooks


def add_weights_hook(cfg, record: dict) -> None:
    """Adds :class:`~cxrdet.engines.runner.hooks.WeightsOnlyCheckpointHook` (once) with cxrdet's ``record``."""
    hooks = [h for h in (cfg.get("custom_hooks") or []) if "WeightsOnlyCheckpointHook" not in str(h.get("type"))]
    hooks.append({"type": "cxrdet.WeightsOnlyCheckpointHook", "record": record})
    cfg.custom_hooks = hooks


def resume_source(split_dir: Path, resume: bool | str | None) -> Path | None:
    """The checkpoint ``--resume`` names: ``auto``/True -> the split's latest checkpoint; a path -> that file.

    Raises:
        ConfigError: nothing to resume from.
    """
    if not resume:
        return None
    if resume in (True, "auto"):
        from mmengine.runner.checkpoint import find_latest_checkpoint

        latest = find_latest_checkpoint(str(split_dir)) if split_dir.is_dir() else None
        if not latest or not Path(latest).is_file():
            raise ConfigError(f"--resume: no checkpoint in {split_dir} to resume from")
        return Path(latest).resolve()
    path = Path(resume).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"--resume: no {path} to resume from")
    return path


def copy_config(cfg):
    """A deep copy of a loaded mmengine ``Config`` (same file name)."""
    from mmengine.config import Config

    return Config(cfg.to_dict(), filename=cfg.filename)


def run_config(
    cfg,
    split: str,
    *,
    work_dir: Path,
    resume: Path | None = None,
    launcher: str = "none",
    record: dict | None = None,
    experiment: str = "run",
    best_metric: str | None = None,
):
    """What every Runner run of one split needs, on a copy of ``cfg`` (an mmengine ``Config``), for any model.

    The split's ``work_dir``, one ``experiment_name`` and visualizer name per run, the best checkpoint by
    ``best_metric`` (None: the config's own ``save_best``), the weights-only hook with ``record``, ``resume`` /
    ``load_from`` (a local file, checked) and the ``launcher``. The data of the split is set by the caller.
    """
    if launcher not in LAUNCHERS:
        raise ConfigError(f"--launcher {launcher!r}: expected one of {', '.join(LAUNCHERS)}")
    out = copy_config(cfg)
    out.work_dir = str(work_dir)
    out.experiment_name = f"{experiment}_{split}"
    if isinstance(out.get("visualizer"), dict):
        # mmdet's default_runtime names its visualizer 'visualizer', and mmengine builds it as a named singleton:
        # a second run in one process (the next fold, a test) would get the first run's visualizer and write
        # its scalars into the first run's folder. One name per run.
        out.visualizer.name = f"{experiment}_{split}_visualizer_{uuid.uuid4().hex[:8]}"
    if best_metric is not None:
        set_best_checkpoint(out, best_metric)
    add_weights_hook(out, dict(record or {}, split=split))
    if resume is not None:
        out.load_from, out.resume = str(resume), True
    else:
        out.resume = False
        if out.get("load_from"):
            path = Path(out.load_from).expanduser()
            if not path.is_file():
                raise ConfigError(f"load_from={out.load_from!r}: no such local file (cxrdet never downloads weights)")
            out.load_from = str(path.resolve())
    out.launcher = launcher
    if launcher == "pytorch":
        from cxrdet.engines.runner.distributed import configure_cpu_ddp

        configure_cpu_ddp(out)
    return out  # engine/predict stay: the Runner ignores them, and its saved config still names its engine


def split_config(
    cfg,
    split: str,
    *,
    data_root: str | Path,
    work_dir: Path,
    resume: Path | None = None,
    launcher: str = "none",
    record: dict | None = None,
    experiment: str = "run",
):
    """The Runner config of one split of an mmdet detector: :func:`run_config` plus the split's COCO files.

    Args:
        cfg: the loaded config (``--cfg-options`` applied).
        split: ``foldK`` or ``all``.
        data_root: the ``cxrdet convert`` folder.
        work_dir: the split's run folder.
        resume: a checkpoint to continue from (its optimizer, scheduler and counters), or None.
        launcher: ``none`` or ``pytorch`` (under torchrun; gloo on CPU, see :mod:`.distributed`).
        record: what the weights-only checkpoints record for prediction (data set, sizes, split).
        experiment: mmengine's ``experiment_name`` prefix (one logger per run in one process).
    """
    out = run_config(
        cfg,
        split,
        work_dir=work_dir,
        resume=resume,
        launcher=launcher,
        record=record,
        experiment=experiment,
        best_metric=BEST_METRIC,
    )
    set_split(out, split, data_root)
    dataset = (record or {}).get("dataset")
    if dataset and "model" in out:
        from cxrdet.structures import DatasetMeta

        n = len(DatasetMeta.from_dict(dict(dataset)).finding_classes)
        replaced = set_num_classes(out.model, n)
        if replaced:
            log.info(
                "num_classes %s of the config -> %d: the finding classes of %s", sorted(set(replaced)), n, data_root
            )
    return out
