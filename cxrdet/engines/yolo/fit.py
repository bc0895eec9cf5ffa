"""YOLO engine, training: a resolved config + a ``cxrdet convert`` split -> best.pt (+ OOF predictions for folds).

Ultralytics' trainer does the loop; cxrdet gives it absolute dataset paths, the run folder and the VinDr
settings (in its arguments, see :mod:`cxrdet.engines.yolo.trainer`), and afterwards records in the
checkpoints how images must be preprocessed for prediction (``png_size``, ``bit_depth``, ``imgsz``), so
``cxrdet predict`` on DICOMs needs nothing else.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from cxrdet.engines.base import TrainResult
from cxrdet.engines.yolo.config import model_yaml
from cxrdet.engines.yolo.dataset import Dataset
from cxrdet.engines.yolo.validation import SETTINGS_KEY, VINDR_KEY, validation_settings
from cxrdet.errors import ConfigError

log = logging.getLogger(__name__)


def ultralytics_args(cfg: dict, dataset: Dataset, split: str, work_dir: Path, resume: Path | None = None) -> dict:
    """The arguments handed to Ultralytics' trainer: the config's ``ultralytics`` section + what cxrdet sets.

    Includes the VinDr settings under :data:`SETTINGS_KEY` (:class:`CxrdetTrainer` takes them out before
    Ultralytics checks its own arguments).
    """
    data_yaml = dataset.data_yaml(split)
    args = dict(cfg["ultralytics"])
    args.update(
        model=model_yaml(cfg["model"]),
        data=str(data_yaml),
        project=str(work_dir),
        name=split,
        exist_ok=True,
        task="detect",
        mode="train",
        pretrained=str(Path(cfg["load_from"]).resolve()) if cfg["load_from"] else False,
    )
    seed = (cfg.get("randomness") or {}).get("seed")
    if seed is not None:
        args["seed"] = int(seed)
    if resume is not None:
        args["resume"] = str(resume)
    args[SETTINGS_KEY] = validation_settings(
        dataset.root, _yaml_value(data_yaml, "val"), cfg["vindr_iou"], cfg["best_metric"]
    )
    return args


def check_args(args: dict) -> None:
    """Ultralytics' own checks of its arguments (names and values), as a :class:`ConfigError`."""
    from ultralytics.cfg import get_cfg

    try:
        get_cfg(overrides={k: v for k, v in args.items() if k != SETTINGS_KEY})
    except (TypeError, ValueError, SyntaxError, KeyError) as err:
        raise ConfigError(f"ultralytics options: {err}") from None


def preprocessing_record(cfg: dict, dataset: Dataset, split: str) -> dict:
    """What :mod:`cxrdet.engines.yolo.predict` reads from a checkpoint to preprocess DICOMs like training did,
    and the data set's class list (so a prediction names its classes without the convert folder)."""
    from cxrdet.engines.yolo.checkpoints import DATASET_KEY

    return {
        "png_size": dataset.png_size,
        "bit_depth": dataset.bit_depth,
        "imgsz": cfg["ultralytics"]["imgsz"],
        "channels": "grey replicated to 3",
        "data_root": str(dataset.root),
        "split": split,
        "model": cfg["model"],
        "best_metric": cfg["best_metric"],
        DATASET_KEY: dataset.meta.to_dict(),
    }


def record_preprocessing(weights: list[Path], record: dict) -> None:
    """Adds ``record`` to checkpoints (Ultralytics' ``strip_optimizer`` keeps extra top-level keys)."""
    from ultralytics.utils.torch_utils import strip_optimizer

    from cxrdet.engines.yolo.checkpoints import CXRDET_KEY

    for path in weights:
        if path.is_file():
            strip_optimizer(str(path), updates={CXRDET_KEY: record})


def fit_split(cfg: dict, dataset: Dataset, split: str, work_dir: Path, resume: Path | None = None) -> TrainResult:
    """Trains on one split and, for a fold, predicts its validation images (``work_dir/oof_<split>.csv``).

    Args:
        resume: a checkpoint (``last.pt``) to continue from, or None for a new run.

    Returns:
        The run's :class:`TrainResult` (``seconds`` left 0).
    """
    from cxrdet.engines.yolo.oof import write_oof
    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    val_list = Path(_yaml_value(dataset.data_yaml(split), "val"))
    with ultralytics_sandbox(work_dir):
        from cxrdet.engines.yolo.trainer import CxrdetTrainer  # first access imports Ultralytics: in the sandbox

        args = ultralytics_args(cfg, dataset, split, work_dir, resume)
        check_args(args)
        trainer = CxrdetTrainer(overrides=args)
        if split == "all":
            log.warning("split 'all': validation runs on the training images (optimistic numbers)")
        trainer.train()
        best = trainer.best if trainer.best.is_file() else trainer.last
        record_preprocessing([trainer.best, trainer.last], preprocessing_record(cfg, dataset, split))
        value = (trainer.metrics or {}).get(VINDR_KEY)
    oof = None
    if cfg["oof"] and split.startswith("fold"):
        oof = write_oof(best, val_list, work_dir / f"oof_{split}.csv", cfg["predict"])
    return TrainResult(split, Path(trainer.save_dir), Path(best), value, oof, 0.0)


def check_no_finding(cfg: dict, dataset: Dataset) -> None:
    """``predict.no_finding=True`` needs a data set with a "no finding" class (checked before training).

    Raises:
        ConfigError: the data set has none.
    """
    if cfg["predict"].get("no_finding") and dataset.meta.no_finding is None:
        raise ConfigError(
            f"predict.no_finding=True: the data set of {dataset.root} has no 'no finding' class "
            f"(classes: {', '.join(dataset.meta.classes)}); set predict.no_finding=False"
        )


def _yaml_value(path: Path, key: str) -> str:
    import yaml

    return yaml.safe_load(Path(path).read_text())[key]


def resume_checkpoint(work_dir: Path, split: str, resume: bool | str | None) -> Path | None:
    """The checkpoint ``--resume`` names: ``auto``/True -> the split's ``last.pt``; a path -> that file.

    Raises:
        ConfigError: the checkpoint does not exist.
    """
    if not resume:
        return None
    path = work_dir / split / "weights" / "last.pt" if resume in (True, "auto") else Path(resume).resolve()
    if not path.is_file():
        raise ConfigError(f"--resume: no {path} to resume from")
    return path


def train(cfg: dict, splits: list[str] | None = None, resume: bool | str | None = None) -> list[TrainResult]:
    """Trains one model per split (``fold0``..., or ``all``) and writes OOF predictions for folds.

    Args:
        cfg: a resolved config (:func:`cxrdet.engines.yolo.config.resolve_config`).
        splits: split names; default ``["all"]``.
        resume: ``auto`` (or True): continue each split from its ``last.pt``; a path: continue from that
            checkpoint (one split only); None/False: new runs.

    Returns:
        One :class:`TrainResult` per split.
    """
    from cxrdet.config import dump_config
    from cxrdet.engines.yolo.oof import combine_oof

    dataset = Dataset.open(cfg["data_root"])
    check_no_finding(cfg, dataset)
    splits = splits or ["all"]
    work_dir = Path(cfg["work_dir"]).resolve()
    if resume not in (None, False, True, "auto") and len(splits) > 1:
        raise ConfigError("--resume PATH continues one split; give one --fold (or --resume auto for every split)")
    checkpoints = {}
    for split in splits:
        dataset.check_classes(split)
        checkpoints[split] = resume_checkpoint(work_dir, split, resume)
    work_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, work_dir / "config.py")
    results = []
    for split in splits:
        start = time.perf_counter()
        result = fit_split(cfg, dataset, split, work_dir, checkpoints[split])
        result.seconds = time.perf_counter() - start
        log.info(
            "%s: best %s (VinDr mAP@%g %s) in %.0f s",
            split,
            result.best,
            cfg["vindr_iou"],
            "-" if result.vindr_map is None else f"{result.vindr_map:.4f}",
            result.seconds,
        )
        results.append(result)
    combine_oof(work_dir, dataset)
    return results
