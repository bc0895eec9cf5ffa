"""Runner engine for custom models, inference side: the model of a config with a checkpoint's weights, and its
per-image predictions as table rows.

The model is built in the config's scope (``cxrdet``) with every ``Pretrained`` init and ``pretrained`` path
dropped (the checkpoint replaces all weights; nothing is read or fetched), and the checkpoint loads as trusted
only because the user named it. :func:`prediction_rows` turns the data samples of ``mode='predict'`` into one
row per image: classifiers ``p_<class>`` per class and ``label``; bone age ``boneage_months``,
``boneage_years`` and ``p_male``; segmentation ``fraction_<class>`` (the share of the image's pixels predicted as
each class).
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

from cxrdet.engines.runner.model import _drop_init
from cxrdet.errors import InputError


def build_task_model(cfg):
    """The config's model with its initial weights (no pretrained file read), in the config's scope."""
    from mmengine.registry import DefaultScope

    import cxrdet.models  # noqa: F401 - registers cxrdet's models
    from cxrdet.registry import MODELS

    model_cfg = copy.deepcopy(cfg.model)
    _drop_init(model_cfg)
    with DefaultScope.overwrite_default_scope(str(cfg.get("default_scope") or "cxrdet")):
        return MODELS.build(model_cfg)


def load_task_model(cfg, checkpoint: str | Path, device: str = "cpu"):
    """The config's model with ``checkpoint``'s weights, in eval mode on ``device``."""
    from mmengine.runner.checkpoint import load_checkpoint

    from cxrdet.engines.checkpoint import trusted_checkpoints

    if not Path(checkpoint).is_file():
        raise InputError(checkpoint, "checkpoint not found (cxrdet never downloads weights)")
    model = build_task_model(cfg)
    with trusted_checkpoints([checkpoint]):
        load_checkpoint(model, str(checkpoint), map_location="cpu", logger="silent", strict=True)
    return model.to(device).eval()


def column_name(class_name: str) -> str:
    """``'Nodule/Mass'`` -> ``p_nodule_mass``: a probability column of one class."""
    return "p_" + (re.sub(r"[^0-9a-zA-Z]+", "_", str(class_name)).strip("_").lower() or "class")


def fraction_column(class_name: str) -> str:
    """``'lesion'`` -> ``fraction_lesion``: the predicted pixel share of one segmentation class."""
    return "fraction_" + column_name(class_name)[2:]


def mask_fractions(mask, classes, prefix: str = "") -> dict[str, float]:
    """``{prefix + fraction_<class>: share of the mask's pixels of that class}`` for every class.

    Args:
        mask: class index per pixel (numpy or torch, any shape).
        classes: the class names in index order (None: the indices up to the mask's largest value).
        prefix: put before each key (``'gt_'`` for a ground-truth mask).
    """
    import numpy as np

    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    names = list(classes) if classes else [str(k) for k in range(int(mask.max(initial=0)) + 1)]
    total = max(mask.size, 1)
    return {prefix + fraction_column(name): float((mask == k).sum()) / total for k, name in enumerate(names)}


def _get(sample, key: str) -> Any:
    return sample.get(key) if hasattr(sample, "get") else getattr(sample, key, None)


def _value(sample, key: str) -> Any:
    value = sample.get(key) if hasattr(sample, "get") else getattr(sample, key, None)
    if value is None:
        return None
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        return value.tolist() if value.ndim else float(value)
    return value


def prediction_rows(samples: list, classes: list[str] | tuple[str, ...] | None) -> list[dict[str, Any]]:
    """One row per data sample of ``mode='predict'``, ``image_id`` first.

    Classification (``pred_score``): ``p_<class>`` for every class and ``label`` (the predicted class name);
    bone age (``pred_age``): ``boneage_months``, ``boneage_years``, ``p_male``; segmentation (``pred_mask``):
    ``fraction_<class>`` for every class (at the model input's size). Ground truth present in the sample is added
    (``gt_label`` / ``gt_age``, ``gt_male`` / ``gt_fraction_<class>``), as out-of-fold files need.
    """
    rows = []
    for sample in samples:
        row: dict[str, Any] = {"image_id": str(sample.metainfo.get("img_id", ""))}
        scores = _value(sample, "pred_score")
        if scores is not None:
            names = list(classes) if classes and len(classes) == len(scores) else [str(i) for i in range(len(scores))]
            for name, p in zip(names, scores):
                row[column_name(name)] = float(p)
            best = max(range(len(scores)), key=lambda i: scores[i])
            row["label"] = names[best]
            gt = _value(sample, "gt_label")
            if gt is not None:
                row["gt_label"] = names[int(gt)]
        age = _value(sample, "pred_age")
        if age is not None:
            row["boneage_months"] = float(age)
            row["boneage_years"] = float(age) / 12.0
            male = _value(sample, "pred_male")
            row["p_male"] = math.nan if male is None else float(male)
            gt_age = _value(sample, "gt_age")
            if gt_age is not None:
                row["gt_boneage_months"] = float(gt_age)
                gt_male = _value(sample, "gt_male")
                row["gt_male"] = math.nan if gt_male is None else float(gt_male)
        mask = _get(sample, "pred_mask")
        if mask is not None:
            scores = _get(sample, "pred_mask_score")
            n = len(scores) if scores is not None else int(mask.max()) + 1
            names = list(classes) if classes and len(classes) == n else [str(k) for k in range(n)]
            row.update(mask_fractions(mask, names))
            gt_mask = _get(sample, "gt_mask")
            if gt_mask is not None:
                row.update(mask_fractions(gt_mask, names, prefix="gt_"))
        rows.append(row)
    return rows
