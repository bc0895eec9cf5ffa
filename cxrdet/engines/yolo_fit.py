"""Ultralytics edge, one training run: a resolved config + a convert split -> best.pt (+ OOF predictions for folds).

Ultralytics' trainer does the loop; cxrdet gives it absolute dataset paths, the run folder, the VinDr
validator, and afterwards records in the checkpoints how images must be preprocessed for prediction
(``png_size``, ``bit_depth``, ``imgsz``), so ``cxrdet predict`` on DICOMs needs nothing else.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cxrdet.errors import ConfigError

log = logging.getLogger(__name__)


def ultralytics_args(cfg: dict, dataset, split: str, work_dir: Path, resume: Path | None = None) -> dict:
    """The arguments handed to Ultralytics' trainer: the config's ``ultralytics`` section + what cxrdet sets."""
    from cxrdet.engines.yolo import model_yaml

    args = dict(cfg["ultralytics"])
    args.update(model=model_yaml(cfg["model"]), data=str(dataset.data_yaml(split)), project=str(work_dir),
                name=split, exist_ok=True, task="detect", mode="train",
                pretrained=str(Path(cfg["load_from"]).resolve()) if cfg["load_from"] else False)
    if resume is not None:
        args["resume"] = str(resume)
    return args


def _check_args(args: dict) -> None:
    from ultralytics.cfg import get_cfg

    try:
        get_cfg(overrides=args)
    except (TypeError, ValueError, SyntaxError, KeyError) as err:
        raise ConfigError(f"ultralytics options: {err}") from None


def preprocessing_record(cfg: dict, dataset, split: str) -> dict:
    """What :mod:`cxrdet.engines.yolo_predict` reads from a checkpoint to preprocess DICOMs like training did."""
    return {"png_size": dataset.png_size, "bit_depth": dataset.bit_depth, "imgsz": cfg["ultralytics"]["imgsz"],
            "channels": "grey replicated to 3", "data_root": str(dataset.root), "split": split,
            "model": cfg["model"], "best_metric": cfg["best_metric"]}


def record_preprocessing(weights: list[Path], record: dict) -> None:
    """Adds ``record`` to checkpoints (Ultralytics' ``strip_optimizer`` keeps extra top-level keys)."""
    from ultralytics.utils.torch_utils import strip_optimizer

    from cxrdet.engines.yolo_predict import CXRDET_KEY

    for path in weights:
        if path.is_file():
            strip_optimizer(str(path), updates={CXRDET_KEY: record})


def fit_split(cfg: dict, dataset, split: str, work_dir: Path, resume: bool = False):
    """Trains on one split and, for a fold, predicts its validation images (``work_dir/oof_<split>.csv``).

    Returns:
        A :class:`cxrdet.engines.yolo.FoldResult` (``seconds`` left 0).
    """
    from cxrdet.engines.yolo import FoldResult
    from cxrdet.engines.yolo_sandbox import ultralytics_sandbox
    from cxrdet.engines.yolo_trainer import VINDR_KEY, VindrValidation, trainer_class

    last = work_dir / split / "weights" / "last.pt"
    data_yaml = dataset.data_yaml(split)
    val_list = Path(_yaml_value(data_yaml, "val"))
    with ultralytics_sandbox(work_dir):
        args = ultralytics_args(cfg, dataset, split, work_dir, last if resume else None)
        _check_args(args)
        trainer_cls, _ = trainer_class()
        trainer = trainer_cls(overrides=args)
        trainer.vindr = VindrValidation.from_convert(dataset.root, val_list, cfg["vindr_iou"], cfg["best_metric"])
        if split == "all":
            log.warning("split 'all': validation runs on the training images (optimistic numbers)")
        trainer.train()
        best = trainer.best if trainer.best.is_file() else trainer.last
        record_preprocessing([trainer.best, trainer.last], preprocessing_record(cfg, dataset, split))
        value = (trainer.metrics or {}).get(VINDR_KEY)
    oof = None
    if cfg["oof"] and split.startswith("fold"):
        oof = write_oof(best, val_list, work_dir / f"oof_{split}.csv", cfg["predict"])
    return FoldResult(split, Path(trainer.save_dir), Path(best), value, oof, 0.0)


def _yaml_value(path: Path, key: str) -> str:
    import yaml

    return yaml.safe_load(path.read_text())[key]


def write_oof(weights: Path, val_list: Path, out: Path, predict_cfg: dict) -> Path:
    """Predicts a fold's validation PNGs with ``weights`` and writes them (original pixels) to ``out``."""
    from cxrdet.engines.yolo_predict import PredictOptions, append_no_finding, predict
    from cxrdet.io.predictions import write_predictions
    from cxrdet.predict_sources import find_sources

    options = {k: v for k, v in predict_cfg.items() if k != "no_finding"}
    result = predict(weights, find_sources(val_list), PredictOptions(progress=False, **options))
    table = append_no_finding(result.table) if predict_cfg.get("no_finding") else result.table
    write_predictions(table, out)
    log.info("out-of-fold predictions: %d boxes on %d images -> %s", len(table), len(table.images), out)
    return out
