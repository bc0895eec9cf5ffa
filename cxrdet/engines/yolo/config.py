"""YOLO engine, configs: every key a YOLO config may set, its defaults, and the checks Ultralytics does not do.

A YOLO config is an mmengine python file (``configs/yolo/``); its ``ultralytics`` section holds Ultralytics'
own train arguments, checked here by name against Ultralytics' ``cfg/default.yaml`` (did-you-mean for typos)
and by Ultralytics itself for values. Reading this module does not import Ultralytics.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path

import yaml

from cxrdet.config import KeysOnly, load_config
from cxrdet.engines.yolo.validation import BEST_METRICS
from cxrdet.errors import ConfigError

log = logging.getLogger(__name__)

ENGINE = "ultralytics"
MODEL_RE = re.compile(r"^yolov5([nsmlx])u?(\.ya?ml)?$")
RESERVED = {  # Ultralytics arguments that cxrdet sets itself, and the cxrdet key to use instead
    "model": "model",
    "data": "data_root and --fold",
    "project": "work_dir",
    "name": "--fold",
    "exist_ok": "work_dir",
    "pretrained": "load_from",
    "resume": "resume (or cxrdet train --resume)",
    "task": "(detect only)",
    "mode": "(train)",
    "save_dir": "work_dir",
    "cfg": "the config file",
    "source": "cxrdet predict --source",
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
        "resume": None,  # False / None, True or "auto", or a checkpoint path: checked in check_config
        "work_dir": None,
        "randomness": {"seed": None},
        "best_metric": "vindr_map",
        "vindr_iou": 0.4,
        "oof": True,
        "predict": {
            "conf": 0.001,
            "iou": 0.7,
            "max_det": 300,
            "tta": False,
            "tta_iou": 0.4,
            "batch": 4,
            "workers": None,
            "no_finding": False,
        },
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
        cfg["work_dir"] = str(Path("work_dirs") / (Path(path).stem if path else "yolo"))
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
    raise ConfigError(
        f"model={model!r}: expected yolov5n, yolov5s, yolov5m, yolov5l or yolov5x (YOLOv5u, built "
        "from Ultralytics' YAML) or a model YAML file; weights go in load_from"
    )


def check_config(cfg: dict) -> None:
    """Value checks Ultralytics does not do (engine, model, metric, local weights)."""
    if cfg["engine"] != ENGINE:
        raise ConfigError(f"engine={cfg['engine']!r}: this is the {ENGINE!r} engine")
    model_yaml(cfg["model"])
    if cfg["best_metric"] not in BEST_METRICS:
        raise ConfigError(f"best_metric={cfg['best_metric']!r}: expected one of {BEST_METRICS}")
    if not 0 < float(cfg["vindr_iou"]) <= 1:
        raise ConfigError(f"vindr_iou={cfg['vindr_iou']}: expected a value in (0, 1]")
    seed = cfg["randomness"]["seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"randomness.seed={seed!r}: expected an integer or None")
    if not (cfg["resume"] in (None, False, True, "auto") or isinstance(cfg["resume"], str)):
        raise ConfigError(f"resume={cfg['resume']!r}: expected False, 'auto' or a checkpoint path")
    if cfg["load_from"] is not None and not Path(cfg["load_from"]).is_file():
        raise ConfigError(f"load_from={cfg['load_from']!r}: no such local file (cxrdet never downloads weights)")
    unknown = set(cfg["predict"]) - set(config_defaults()["predict"])
    if unknown:
        raise ConfigError(f"unknown predict option(s) {sorted(unknown)}")
