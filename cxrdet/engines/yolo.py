"""Ultralytics edge: YOLOv5u configs, training on a ``cxrdet convert`` folder (K folds, OOF predictions), prediction.

The only part of cxrdet that uses Ultralytics (this module and its ``yolo_*`` siblings); Ultralytics is
imported inside functions, under :func:`~cxrdet.engines.yolo_sandbox.ultralytics_sandbox` (offline,
settings in the run folder). Models are built from Ultralytics' own ``yolov5{n,s,m,l,x}u.yaml`` (random
weights) or initialised from a local ``load_from`` file; nothing is downloaded.

Grey radiographs are fed as 3 identical channels: Ultralytics reads the grey PNGs with OpenCV's colour flag
(which replicates the grey value), ``cxrdet predict`` replicates the grey array the same way, and the
YOLO stem stays the 3-channel one, so COCO-pretrained YOLOv5 weights load unchanged (what the VinBigData
teams did). Hue/saturation augmentation is off by default (it does nothing to grey pixels).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from cxrdet.config import KeysOnly, load_config
from cxrdet.errors import ConfigError

log = logging.getLogger(__name__)

ENGINE = "ultralytics"
MODEL_RE = re.compile(r"^yolov5([nsmlx])u?(\.ya?ml)?$")
RESERVED = {  # Ultralytics arguments that cxrdet sets itself, and the cxrdet key to use instead
    "model": "model", "data": "data_root and --fold", "project": "work_dir", "name": "--fold",
    "exist_ok": "work_dir", "pretrained": "load_from", "resume": "cxrdet train --resume", "task": "(detect only)",
    "mode": "(train)", "save_dir": "work_dir", "cfg": "the config file", "source": "cxrdet predict --source",
}
CXRDET_ULTRALYTICS_DEFAULTS = {
    "plots": False,  # plots need fonts; the run's numbers are in results.csv
    "hsv_h": 0.0,  # grey images: hue and saturation jitter do nothing
    "hsv_s": 0.0,
    "verbose": False,
}


def ultralytics_defaults() -> dict:
    """Ultralytics' own argument defaults (its ``cfg/default.yaml``), read without importing Ultralytics."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("Ultralytics is not installed (pip install 'ultralytics>=8.3,<8.5')")
    path = Path(next(iter(spec.submodule_search_locations))) / "cfg" / "default.yaml"
    return yaml.safe_load(path.read_text())


def config_defaults() -> dict:
    """Every key a YOLO config may set, with its default (see ``configs/yolo/_base_/yolov5_vindr.py``)."""
    section = {k: v for k, v in ultralytics_defaults().items() if k not in RESERVED}
    section.update(CXRDET_ULTRALYTICS_DEFAULTS)
    return {
        "engine": ENGINE,
        "data_root": None,
        "model": "yolov5s",
        "load_from": None,
        "work_dir": None,
        "best_metric": "vindr_map",
        "vindr_iou": 0.4,
        "oof": True,
        "predict": {"conf": 0.001, "iou": 0.7, "max_det": 300, "tta": False, "tta_iou": 0.4, "batch": 4,
                    "workers": None, "no_finding": False},
        "ultralytics": KeysOnly(section),
    }


def resolve_config(path: str | Path | None, options: dict | list[str] | None = None) -> dict:
    """Defaults < config file < ``--cfg-options``, checked (unknown keys, reserved Ultralytics keys, values).

    Args:
        path: the config file (None: the defaults alone).
        options: ``["key=value", ...]`` or an already nested dict.

    Raises:
        ConfigError: with the key and, for typos, the closest known keys.
    """
    try:
        cfg = load_config(path, config_defaults(), options)
    except ConfigError as err:
        _explain_reserved(err)
        raise
    check_config(cfg)
    if cfg["work_dir"] is None:
        cfg["work_dir"] = str(Path("runs") / (Path(path).stem if path else "yolo"))
    return cfg


def _explain_reserved(err: ConfigError) -> None:
    match = re.search(r"unknown config key 'ultralytics\.(\w+)'", str(err))
    if match and match.group(1) in RESERVED:
        key = match.group(1)
        raise ConfigError(f"'ultralytics.{key}' is set by cxrdet: use {RESERVED[key]} instead") from None


def model_yaml(model: str) -> str:
    """``yolov5s`` / ``yolov5su`` / ``yolov5su.yaml`` -> ``yolov5su.yaml``; a path to a model YAML is kept.

    Raises:
        ConfigError: neither a YOLOv5 size nor an existing YAML file (``.pt`` goes in ``load_from``).
    """
    match = MODEL_RE.match(str(model))
    if match:
        return f"yolov5{match.group(1)}u.yaml"
    if str(model).endswith((".yaml", ".yml")) and Path(model).is_file():
        return str(Path(model).resolve())
    raise ConfigError(f"model={model!r}: expected yolov5n, yolov5s, yolov5m, yolov5l or yolov5x (YOLOv5u, built "
                      "from Ultralytics' YAML) or a model YAML file; weights go in load_from")


def check_config(cfg: dict) -> None:
    """Value checks Ultralytics does not do (engine, model, metric, local weights)."""
    from cxrdet.engines.yolo_trainer import BEST_METRICS

    if cfg["engine"] != ENGINE:
        raise ConfigError(f"engine={cfg['engine']!r}: this is the {ENGINE!r} engine")
    model_yaml(cfg["model"])
    if cfg["best_metric"] not in BEST_METRICS:
        raise ConfigError(f"best_metric={cfg['best_metric']!r}: expected one of {BEST_METRICS}")
    if not 0 < float(cfg["vindr_iou"]) <= 1:
        raise ConfigError(f"vindr_iou={cfg['vindr_iou']}: expected a value in (0, 1]")
    if cfg["load_from"] is not None and not Path(cfg["load_from"]).is_file():
        raise ConfigError(f"load_from={cfg['load_from']!r}: no such local file (cxrdet never downloads weights)")
    unknown = set(cfg["predict"]) - set(config_defaults()["predict"])
    if unknown:
        raise ConfigError(f"unknown predict option(s) {sorted(unknown)}")


@dataclass
class Dataset:
    """A ``cxrdet convert`` folder as training sees it."""

    root: Path
    png_size: int
    bit_depth: int
    splits: list[str]

    @classmethod
    def open(cls, data_root: str | Path | None) -> Dataset:
        """Checks the folder and reads its conversion settings.

        Raises:
            ConfigError: no ``data_root``, or not a convert output with labels.
        """
        if not data_root:
            raise ConfigError("data_root is not set: point it at a cxrdet convert output folder "
                              "(--cfg-options data_root=PATH)")
        root = Path(data_root).resolve()
        settings = root / "convert.json"
        if not settings.is_file() or not (root / "yolo").is_dir():
            raise ConfigError(f"data_root={str(data_root)!r} is not a cxrdet convert output with labels "
                              "(no convert.json or yolo/); run cxrdet convert --labels ... first")
        try:
            info = json.loads(settings.read_text())
            size, bit_depth = int(info["size"]), int(info.get("bit_depth", 8))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(f"{settings}: unreadable or damaged (no size / bit_depth); convert again into a "
                              "new folder") from None
        splits = sorted(p.parent.name for p in (root / "yolo").glob("*/data.yaml"))
        return cls(root, size, bit_depth, splits)

    @property
    def folds(self) -> list[int]:
        return sorted(int(s[4:]) for s in self.splits if re.fullmatch(r"fold\d+", s))

    def data_yaml(self, split: str) -> Path:
        if split not in self.splits:
            raise ConfigError(f"{self.root}: no split {split!r} (available: {', '.join(self.splits)}); "
                              "convert with --folds K for K folds")
        return self.root / "yolo" / split / "data.yaml"


@dataclass
class FoldResult:
    """One training run (a fold, or ``all``)."""

    split: str
    save_dir: Path
    best: Path
    vindr_map: float | None
    oof: Path | None
    seconds: float


def select_splits(dataset: Dataset, fold: list[int] | None, folds: str | None) -> list[str]:
    """``--fold K`` (repeatable) / ``--folds all`` / neither (``all``: every labelled image) -> split names."""
    if fold and folds:
        raise ConfigError("give --fold K or --folds all, not both")
    if folds is not None:
        if folds != "all":
            raise ConfigError(f"--folds {folds!r}: only 'all' is accepted (use --fold K for single folds)")
        if not dataset.folds:
            raise ConfigError(f"{dataset.root} has no folds; convert with --folds K")
        return [f"fold{k}" for k in dataset.folds]
    if fold:
        return [f"fold{k}" for k in fold]
    return ["all"]


def train(cfg: dict, splits: list[str] | None = None, resume: bool = False) -> list[FoldResult]:
    """Trains one model per split (``fold0``..., or ``all``) and writes OOF predictions for folds.

    Args:
        cfg: a resolved config (:func:`resolve_config`).
        splits: split names; default ``["all"]``.
        resume: continue each split from its ``last.pt`` (an interrupted run).

    Returns:
        One :class:`FoldResult` per split.
    """
    from cxrdet.config import dump_config
    from cxrdet.engines.yolo_fit import fit_split

    dataset = Dataset.open(cfg["data_root"])
    splits = splits or ["all"]
    work_dir = Path(cfg["work_dir"]).resolve()
    for split in splits:
        dataset.data_yaml(split)
        last = work_dir / split / "weights" / "last.pt"
        if resume and not last.is_file():
            raise ConfigError(f"--resume: no {last} to resume from")
    work_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, work_dir / "config.py")
    results = []
    for split in splits:
        start = time.perf_counter()
        result = fit_split(cfg, dataset, split, work_dir, resume)
        result.seconds = time.perf_counter() - start
        log.info("%s: best %s (VinDr mAP@%g %s) in %.0f s", split, result.best, cfg["vindr_iou"],
                 "-" if result.vindr_map is None else f"{result.vindr_map:.4f}", result.seconds)
        results.append(result)
    combine_oof(work_dir, dataset)
    return results


def combine_oof(work_dir: Path, dataset: Dataset) -> Path | None:
    """``work_dir/oof.csv``: every fold's OOF file stacked (one model's predictions on every training image).

    Written once all folds of ``dataset`` have their ``oof_foldK.csv`` (trained now or in earlier runs);
    that is the per-model file ``cxrdet tune-ensemble`` compares models with.
    """
    from cxrdet.io.predictions import BoxTable, read_table, write_predictions

    files = [work_dir / f"oof_fold{k}.csv" for k in dataset.folds]
    if not files or not all(f.is_file() for f in files):
        return None
    out = work_dir / "oof.csv"
    write_predictions(BoxTable.concat([read_table(f) for f in files], source=str(out)), out)
    log.info("out-of-fold predictions of all %d folds -> %s", len(files), out)
    return out


def untrained_checkpoint(cfg: dict, out: str | Path, png_size: int, bit_depth: int = 8) -> Path:
    """Writes a randomly initialised model of ``cfg`` as a checkpoint ``cxrdet predict`` reads (a baseline).

    Args:
        cfg: a resolved config (model, ``ultralytics.imgsz``).
        out: the ``.pt`` to write.
        png_size, bit_depth: the preprocessing to record (as :mod:`cxrdet.engines.yolo_fit` does).
    """
    import tempfile

    import torch

    from cxrdet.engines.yolo_predict import CXRDET_KEY
    from cxrdet.engines.yolo_sandbox import ultralytics_sandbox
    from cxrdet.vindr import CLASS_NAMES, NUM_FINDING_CLASSES

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cxrdet-ultralytics-") as tmp, ultralytics_sandbox(tmp):
        from ultralytics.nn.tasks import DetectionModel

        torch.manual_seed(int(cfg["ultralytics"].get("seed") or 0))
        model = DetectionModel(model_yaml(cfg["model"]), nc=NUM_FINDING_CLASSES, verbose=False)
        model.names = {i: CLASS_NAMES[i] for i in range(NUM_FINDING_CLASSES)}
        imgsz = int(cfg["ultralytics"]["imgsz"])
        record = {"png_size": int(png_size), "bit_depth": int(bit_depth), "imgsz": imgsz, "model": cfg["model"],
                  "untrained": True}
        torch.save({"model": model.eval(), "train_args": {"imgsz": imgsz, "task": "detect"}, CXRDET_KEY: record},
                   out)
    return out
