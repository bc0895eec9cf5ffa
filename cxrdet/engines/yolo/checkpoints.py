"""YOLO engine, checkpoints: what ``cxrdet train`` records in a ``.pt`` for prediction, and an untrained baseline.

The record (``ckpt["cxrdet"]``) holds the preprocessing (``png_size``, ``bit_depth``, ``imgsz``) and the data
set's class list (``dataset``: :meth:`DatasetMeta.to_dict`), so ``cxrdet predict weights.pt`` needs neither the
config nor the convert folder. A checkpoint without ``dataset`` (older, or plain Ultralytics) is VinDr's.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cxrdet.engines.yolo.config import model_yaml
from cxrdet.errors import ConfigError
from cxrdet.structures import VINDR, DatasetMeta

log = logging.getLogger(__name__)

CXRDET_KEY = "cxrdet"
"""Checkpoint entry where ``cxrdet train`` records the preprocessing the model was trained with."""
DATASET_KEY = "dataset"
"""Entry of the ``cxrdet`` record holding the class list (``{"classes": [...], "no_finding": id or null}``)."""


def detector_names(meta: DatasetMeta) -> dict[int, str]:
    """The detector's classes: YOLO class index = cxrdet class id, up to the last finding class.

    As ``data.yaml`` is written (:mod:`cxrdet.io.yolo`): VinDr -> ids 0-13 ("No finding", id 14, is not a
    detector class); a data set without "no finding" -> all its classes.
    """
    nc = max(meta.finding_classes) + 1 if meta.finding_classes else 0
    return {c: meta.name(c) for c in range(nc)}


def record_meta(record: dict | None, weights: str | Path = "checkpoint") -> DatasetMeta:
    """The class list a ``cxrdet`` record carries (VinDr when it carries none).

    Raises:
        ConfigError: the recorded class list is damaged.
    """
    data = (record or {}).get(DATASET_KEY)
    if data is None:
        return VINDR
    try:
        return DatasetMeta.from_dict(data)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{weights}: damaged class list in its cxrdet record: {err}") from None


def read_record(weights: str | Path) -> dict:
    """The ``cxrdet`` record of a checkpoint ({} when it has none or the file cannot be read)."""
    import torch

    try:
        ckpt = torch.load(weights, map_location="cpu", weights_only=False)
    except Exception:  # an unreadable file is reported by predict itself
        return {}
    return dict(ckpt.get(CXRDET_KEY) or {}) if isinstance(ckpt, dict) else {}


def untrained_checkpoint(
    cfg: dict, out: str | Path, png_size: int, bit_depth: int = 8, meta: DatasetMeta = VINDR
) -> Path:
    """Writes a randomly initialised model of ``cfg`` as a checkpoint ``cxrdet predict`` reads (a baseline).

    Args:
        cfg: a resolved config (model, ``ultralytics.imgsz``).
        out: the ``.pt`` to write.
        png_size, bit_depth: the preprocessing to record (as :mod:`cxrdet.engines.yolo.fit` does).
        meta: the data set's class list (the model gets one output per detector class).
    """
    import tempfile

    import torch

    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    names = detector_names(meta)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cxrdet-ultralytics-") as tmp, ultralytics_sandbox(tmp):
        from ultralytics.nn.tasks import DetectionModel

        seed = (cfg.get("randomness") or {}).get("seed")
        torch.manual_seed(int(cfg["ultralytics"].get("seed") or 0) if seed is None else int(seed))
        model = DetectionModel(model_yaml(cfg["model"]), nc=len(names), verbose=False)
        model.names = names
        imgsz = int(cfg["ultralytics"]["imgsz"])
        record = {
            "png_size": int(png_size),
            "bit_depth": int(bit_depth),
            "imgsz": imgsz,
            "model": cfg["model"],
            "untrained": True,
            DATASET_KEY: meta.to_dict(),
        }
        torch.save({"model": model.eval(), "train_args": {"imgsz": imgsz, "task": "detect"}, CXRDET_KEY: record}, out)
    return out
