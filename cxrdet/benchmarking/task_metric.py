"""Benchmarking, the task's metric of a checkpoint: the same engine call as ``cxrdet test``.

Detectors: VinDr mAP@0.4 (the config's ``vindr_iou``) of the checkpoint on the validation images of the split
it was trained on; custom models: their test evaluator's values (AUC / accuracy for classifiers, MAD for bone
age, IoU / Dice for segmentation, whatever the config's evaluator reports), the headline one being the metric
the config keeps its best checkpoint by. The engine is built from the config with ``--data-root`` and
``--device`` as ``cxrdet test`` builds it, and writes what its test writes into ``work_dir``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def checkpoint_metric(
    config: str | os.PathLike,
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike | None,
    work_dir: str | os.PathLike,
    device: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The task's metric of ``checkpoint`` through its engine's ``test`` (``cxrdet test``'s code path).

    Args:
        config: the config the checkpoint was trained with.
        checkpoint: a local checkpoint file.
        data_root: the data set (None: the config's ``data_root``).
        work_dir: the engine's ``work_dir`` (its test writes predictions there).
        device: ``'cpu'``, ``'0'``, ... (None: the engine's default).
        options: ``--cfg-options``.

    Returns:
        ``metric`` (its name), ``value`` (None when not finite) and ``metrics`` (every value the test reported).
    """
    from cxrdet.config import merge, resolve_path
    from cxrdet.engines.base import engine_class_of_config

    path = resolve_path(config)
    options = dict(options or {})
    cls = engine_class_of_config(path, options)
    flags = cls.flag_options(
        data_root=None if data_root is None else str(data_root), work_dir=str(work_dir), device=device
    )
    engine = cls.from_config(path, merge(options, flags))
    result = engine.test(str(checkpoint))
    if hasattr(result, "lines"):  # image-level models: their evaluator's metrics
        metrics = {k: _number(v) for k, v in result.metrics.items()}
        best = engine.cfg.get("best_metric")
        name = best if best in metrics else next(iter(metrics), "metric")
        return {"metric": name, "value": metrics.get(name), "metrics": metrics}
    name = f"VinDr mAP@{float(engine.cfg['vindr_iou']):g}"
    metrics = {name: _number(result.map)}
    for row in result.per_class.itertuples(index=False):
        if row.n_gt:
            metrics[f"AP {row.class_name}"] = _number(row.ap)
    return {"metric": name, "value": metrics[name], "metrics": metrics}
