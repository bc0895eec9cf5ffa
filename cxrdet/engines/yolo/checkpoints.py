"""YOLO engine, checkpoints: what ``cxrdet train`` records in a ``.pt`` for prediction, and an untrained baseline."""

from __future__ import annotations

from pathlib import Path

from cxrdet.engines.yolo.config import model_yaml

CXRDET_KEY = "cxrdet"
"""Checkpoint entry where ``cxrdet train`` records the preprocessing the model was trained with."""


def untrained_checkpoint(cfg: dict, out: str | Path, png_size: int, bit_depth: int = 8) -> Path:
    """Writes a randomly initialised model of ``cfg`` as a checkpoint ``cxrdet predict`` reads (a baseline).

    Args:
        cfg: a resolved config (model, ``ultralytics.imgsz``).
        out: the ``.pt`` to write.
        png_size, bit_depth: the preprocessing to record (as :mod:`cxrdet.engines.yolo.fit` does).
    """
    import tempfile

    import torch

    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox
    from cxrdet.vindr import CLASS_NAMES, NUM_FINDING_CLASSES

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cxrdet-ultralytics-") as tmp, ultralytics_sandbox(tmp):
        from ultralytics.nn.tasks import DetectionModel

        seed = (cfg.get("randomness") or {}).get("seed")
        torch.manual_seed(int(cfg["ultralytics"].get("seed") or 0) if seed is None else int(seed))
        model = DetectionModel(model_yaml(cfg["model"]), nc=NUM_FINDING_CLASSES, verbose=False)
        model.names = {i: CLASS_NAMES[i] for i in range(NUM_FINDING_CLASSES)}
        imgsz = int(cfg["ultralytics"]["imgsz"])
        record = {"png_size": int(png_size), "bit_depth": int(bit_depth), "imgsz": imgsz, "model": cfg["model"],
                  "untrained": True}
        torch.save({"model": model.eval(), "train_args": {"imgsz": imgsz, "task": "detect"}, CXRDET_KEY: record},
                   out)
    return out
