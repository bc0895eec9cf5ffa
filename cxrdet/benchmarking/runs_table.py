"""Benchmarking, finished training runs: one row per ``cxrdet train`` work dir, read from what the run wrote.

A work dir (``cxrdet train -o DIR``) holds the resolved ``config.py`` and one folder per split (``fold0``...,
or ``all``). What is read, per engine:

* YOLO (``engine='ultralytics'``): each split's ``results.csv`` (Ultralytics: one row per epoch, ``time`` the
  cumulative seconds, ``metrics/vindr_mAP40(B)`` the VinDr mAP cxrdet's validator wrote) and ``args.yaml``
  (``imgsz``); the prediction threshold is the config's ``predict.conf``;
* Runner engines (``mmdet``, ``mmengine``): each split's ``<timestamp>/vis_data/scalars.json`` (mmengine's
  scalars: training lines carry ``loss`` and ``epoch``, validation lines the metrics and ``step``; a resumed
  run adds a folder) and the ``<timestamp>`` folder's name and last write (the training time, validation
  included); the best metric is the config's ``default_hooks.checkpoint.save_best`` under its ``rule``; a
  detector's prediction threshold is ``predict.conf``, else its ``model.test_cfg`` ``score_thr``.

The score: the out-of-fold files (``oof.csv``, else the ``oof_foldK.csv`` there are) scored against the
ground truth of the config's ``data_root`` (a ``cxrdet convert`` folder: ``labels_fused.csv``, the boxes
training validated against): VinDr mAP@0.4 for detectors; accuracy (classifiers) or MAD in months (bone
age) for image-level OOF files, which carry their ground truth. A submission's score is what the user
records in ``DIR/submission_score.txt`` (:data:`SCORE_FILE`): one score a line, ``NAME VALUE`` (``public
0.137``, ``private: 0.121``, ``name=value``) or a bare number (named ``score``); ``#`` starts a comment. The
first one is the table's ``submission`` column; all are kept in the JSON.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cxrdet.errors import InputError

log = logging.getLogger(__name__)

SCORE_FILE = "submission_score.txt"
"""Where a user records a submission's score(s) in a work dir (see the module docstring)."""
YOLO_METRIC = "metrics/vindr_mAP40(B)"
NOT_SPLITS = {"untrained", "test", "ultralytics_settings"}


def _num(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def read_submission_scores(path: str | os.PathLike) -> dict[str, float]:
    """The scores of a :data:`SCORE_FILE` (``{}`` when there is none).

    Raises:
        InputError: a line that is not ``NAME VALUE`` or a number.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    scores: dict[str, float] = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        m = re.fullmatch(r"(?:([A-Za-z][\w .-]*?)\s*[:= ]\s*)?([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", text)
        if not m:
            raise InputError(path, f"line {i}: {text!r} is not 'NAME VALUE' or a number (e.g. 'public 0.137')")
        scores[(m.group(1) or "score").strip()] = float(m.group(2))
    return scores


def _read_config(work_dir: Path) -> dict[str, Any]:
    from cxrdet.config import read_file

    path = work_dir / "config.py"
    if not path.is_file():
        raise InputError(work_dir, "not a cxrdet train work dir (no config.py: the resolved config it writes)")
    try:
        return read_file(path)
    except Exception as err:
        raise InputError(path, f"unreadable resolved config ({type(err).__name__}: {err})") from None


def _splits(work_dir: Path) -> list[Path]:
    found = []
    for d in sorted(p for p in work_dir.iterdir() if p.is_dir() and p.name not in NOT_SPLITS):
        if (d / "results.csv").is_file() or any(d.glob("*/vis_data/scalars.json")):
            found.append(d)
    return found


def _yolo_split(split: Path) -> dict[str, Any]:
    import pandas as pd
    import yaml

    frame = pd.read_csv(split / "results.csv")
    frame.columns = [c.strip() for c in frame.columns]
    out: dict[str, Any] = {"split": split.name, "epochs": int(frame["epoch"].max()) if len(frame) else 0}
    out["train_time_s"] = _num(frame["time"].iloc[-1]) if "time" in frame and len(frame) else None
    if YOLO_METRIC in frame and len(frame):
        best = int(frame[YOLO_METRIC].to_numpy().argmax())
        out.update(best_value=_num(frame[YOLO_METRIC].iloc[best]), best_epoch=int(frame["epoch"].iloc[best]))
    args = split / "args.yaml"
    if args.is_file():
        out["imgsz"] = (yaml.safe_load(args.read_text()) or {}).get("imgsz")
    best_pt = split / "weights" / "best.pt"
    out["best_checkpoint"] = str(best_pt) if best_pt.is_file() else None
    return out


def _run_seconds(stamp_dir: Path) -> float | None:
    """Wall seconds of one Runner run: from its folder's name (mmengine's local start time, ``%Y%m%d_%H%M%S``)
    to the last write of a file inside it (the scalars and log are appended until the run ends)."""
    try:
        begin = datetime.strptime(stamp_dir.name, "%Y%m%d_%H%M%S")
    except ValueError:
        return None
    ends = [p.stat().st_mtime for p in stamp_dir.rglob("*") if p.is_file()]
    return max(0.0, max(ends) - begin.timestamp()) if ends else None


def _runner_split(split: Path, metric: str | None, rule: str) -> dict[str, Any]:
    epochs, best_value, best_epoch, seconds = 0, None, None, 0.0
    timed = False
    for scalars in sorted(split.glob("*/vis_data/scalars.json")):
        for line in scalars.read_text().splitlines():
            record = json.loads(line) if line.strip() else {}
            if "loss" in record:
                epochs = max(epochs, int(record.get("epoch") or 0))
            elif metric and _num(record.get(metric)) is not None:
                value = _num(record[metric])
                better = best_value is None or (value < best_value if rule == "less" else value > best_value)
                if better:
                    best_value, best_epoch = value, int(record.get("step") or 0)
        run_seconds = _run_seconds(scalars.parents[1])
        if run_seconds is not None:
            seconds, timed = seconds + run_seconds, True
    best = [p for p in sorted(split.glob("best_*.pth")) if not p.name.endswith("_weights.pth")]
    return {
        "split": split.name,
        "epochs": epochs,
        "best_value": best_value,
        "best_epoch": best_epoch,
        "train_time_s": seconds if timed else None,
        "best_checkpoint": str(best[-1]) if best else None,
    }


def _config_name(work_dir: Path, splits: list[Path]) -> str:
    for split in splits:
        dumped = [p for p in split.glob("*.py") if not p.name.startswith(".")]
        if dumped:
            return dumped[0].stem  # mmengine dumps the config under its own name
    return work_dir.name  # cxrdet train's default work dir is work_dirs/<config name>


def _conf_threshold(cfg: dict[str, Any], engine: str) -> float | None:
    conf = (cfg.get("predict") or {}).get("conf")
    if conf is not None or engine != "mmdet":
        return _num(conf)
    test_cfg = (cfg.get("model") or {}).get("test_cfg") or {}
    stage = test_cfg.get("rcnn") if isinstance(test_cfg.get("rcnn"), dict) else test_cfg
    return _num((stage or {}).get("score_thr"))


def _input_size(cfg: dict[str, Any], engine: str, splits: list[dict[str, Any]]) -> int | None:
    if engine == "ultralytics":
        size = next((s.get("imgsz") for s in splits if s.get("imgsz")), None)
        return int(size or (cfg.get("ultralytics") or {}).get("imgsz") or 0) or None
    from mmengine.config import Config

    loaded = Config(cfg)
    try:
        if engine == "mmdet":
            from cxrdet.benchmarking.detectors import config_input_size

            return max(config_input_size(loaded))
        from cxrdet.engines.runner.task_engine import _input_size as task_size

        return task_size(loaded)
    except Exception:  # a config without a readable test pipeline: no size
        return None


def _oof_files(work_dir: Path) -> list[Path]:
    combined = work_dir / "oof.csv"
    return [combined] if combined.is_file() else sorted(work_dir.glob("oof_fold*.csv"))


def _detector_ground_truth(data_root: Path, ids: Sequence[str]):
    import pandas as pd

    from cxrdet.structures import BoxTable

    meta = pd.read_csv(data_root / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    missing = [i for i in ids if i not in meta.index]
    if missing:
        raise InputError(data_root / "meta.csv", f"{len(missing)} OOF images are not in it (e.g. {missing[0]})")
    fused = pd.read_csv(data_root / "labels_fused.csv", dtype={"image_id": str})
    fused = fused[fused["image_id"].isin(set(ids))].assign(score=1.0)
    images = pd.DataFrame(
        {
            "height": meta.loc[list(ids), "original_height"].to_numpy(float),
            "width": meta.loc[list(ids), "original_width"].to_numpy(float),
        },
        index=pd.Index(list(ids), name="image_id"),
    )
    return BoxTable(fused, images, "labels_fused.csv")


def oof_score(work_dir: str | os.PathLike, cfg: dict[str, Any], engine: str) -> tuple[str | None, float | None, str]:
    """``(metric name, value, note)`` of a run's out-of-fold files (``(None, None, why)`` when there is none)."""
    import pandas as pd

    files = _oof_files(Path(work_dir))
    if not files:
        return None, None, "no OOF files"
    if engine in ("ultralytics", "mmdet"):
        from cxrdet.evaluation.voc import vindr_map
        from cxrdet.io.metainfo import meta_for
        from cxrdet.io.predictions import read_table
        from cxrdet.structures import BoxTable

        root = Path(str(cfg.get("data_root") or ""))
        if not (root / "labels_fused.csv").is_file():
            return None, None, f"OOF not scored: data_root {str(root)!r} has no labels_fused.csv"
        meta = meta_for(files)
        pred = BoxTable.concat([read_table(f, meta=meta) for f in files], source=str(work_dir))
        iou = float(cfg.get("vindr_iou") or 0.4)
        result = vindr_map(_detector_ground_truth(root, list(pred.images.index)), pred, iou_thr=iou, meta=meta)
        return f"VinDr mAP@{iou:g}", _num(result.map), f"{len(pred.images)} images of {len(files)} file(s)"
    frame = pd.concat([pd.read_csv(f, dtype={"image_id": str}) for f in files], ignore_index=True)
    if {"label", "gt_label"} <= set(frame.columns):
        return "accuracy", float((frame["label"].astype(str) == frame["gt_label"].astype(str)).mean()), ""
    if {"boneage_months", "gt_boneage_months"} <= set(frame.columns):
        return "MAD months", float((frame["boneage_months"] - frame["gt_boneage_months"]).abs().mean()), ""
    return None, None, "OOF files without ground truth columns"


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def read_run(work_dir: str | os.PathLike) -> dict[str, Any]:
    """One finished run's row (see the module docstring).

    Returns:
        ``run`` (the folder), ``config``, ``engine``, ``model``, ``input_size``, ``splits``, ``epochs`` (the
        most any split trained), ``best_metric``, ``best_value`` (mean over splits) and ``best_epoch`` (per
        split, ``/``-joined), ``train_time_s`` (summed over splits), ``conf_thr``, ``oof_metric``,
        ``oof_value``, ``oof_note``, ``submission`` (the first recorded score), ``submission_scores`` and
        ``per_split`` (each split's figures).

    Raises:
        InputError: not a work dir (no ``config.py``, no split folder with logs).
    """
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        raise InputError(work_dir, "not a folder (give the work dir of a cxrdet train run)")
    cfg = _read_config(work_dir)
    engine = str(cfg.get("engine") or "ultralytics")
    split_dirs = _splits(work_dir)
    if not split_dirs:
        raise InputError(work_dir, "no finished split (no fold*/ or all/ with results.csv or vis_data/scalars.json)")
    if engine == "ultralytics":
        metric, splits = "VinDr mAP@0.4 (val)", [_yolo_split(s) for s in split_dirs]
        model = str(cfg.get("model"))
    else:
        checkpoint = (cfg.get("default_hooks") or {}).get("checkpoint") or {}
        best = checkpoint.get("save_best")
        best = best[0] if isinstance(best, (list, tuple)) else best
        rule = str(checkpoint.get("rule") or "greater")
        metric = None if best in (None, "auto") else str(best)
        splits = [_runner_split(s, metric, rule) for s in split_dirs]
        model_cfg = cfg.get("model") or {}
        backbone = model_cfg.get("backbone") or {}
        parts = [model_cfg.get("type"), backbone.get("model_name") or backbone.get("type")]
        model = " ".join(str(x).split(".")[-1] for x in parts if x)
        if backbone.get("depth"):
            model += f"-{backbone['depth']}"
    oof_metric, oof_value, note = oof_score(work_dir, cfg, engine)
    scores = read_submission_scores(work_dir / SCORE_FILE)
    times = [s["train_time_s"] for s in splits]
    return {
        "run": str(work_dir),
        "config": _config_name(work_dir, split_dirs),
        "engine": engine,
        "model": model,
        "input_size": _input_size(cfg, engine, splits),
        "splits": "/".join(s["split"] for s in splits),
        "epochs": max(s["epochs"] for s in splits),
        "best_metric": metric,
        "best_value": _mean([s.get("best_value") for s in splits]),
        "best_epoch": "/".join("-" if s.get("best_epoch") is None else str(s["best_epoch"]) for s in splits),
        "train_time_s": sum(t for t in times if t is not None) if any(t is not None for t in times) else None,
        "conf_thr": _conf_threshold(cfg, engine),
        "oof_metric": oof_metric,
        "oof_value": oof_value,
        "oof_note": note,
        "submission": next(iter(scores.values()), None),
        "submission_scores": scores,
        "per_split": splits,
    }
