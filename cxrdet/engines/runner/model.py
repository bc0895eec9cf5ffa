"""Runner engine, the model for inference: built from the config, weights from a checkpoint, its test pipeline.

A checkpoint is loaded as trusted only because the user named it (:func:`trusted_checkpoints` over that
one file), never through a global ``weights_only`` switch; a ``*_weights.pth`` loads under torch's safe
default anyway. Also reads what a cxrdet checkpoint records (``meta['cxrdet']``) and the class list.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from cxrdet.errors import ConfigError, InputError
from cxrdet.structures import VINDR, DatasetMeta


def _scope(cfg) -> str:
    return str(cfg.get("default_scope") or "mmdet")


def _set_test_cfg(model_cfg: dict, conf: float | None, iou: float | None, max_det: int | None) -> None:
    """Score threshold, NMS IoU and boxes per image of the detector's last stage (``rcnn`` for two stages)."""
    test_cfg = model_cfg.get("test_cfg")
    if not isinstance(test_cfg, dict):
        return
    stage = test_cfg.get("rcnn") if isinstance(test_cfg.get("rcnn"), dict) else test_cfg
    if conf is not None and "score_thr" in stage:
        stage["score_thr"] = float(conf)
    if iou is not None and isinstance(stage.get("nms"), dict):
        stage["nms"]["iou_threshold"] = float(iou)
    if max_det is not None and "max_per_img" in stage:
        stage["max_per_img"] = int(max_det)


def read_checkpoint(checkpoint: str | Path) -> dict:
    """A checkpoint file as a dict (full mmengine checkpoints as trusted: the user named this file).

    Raises:
        InputError: missing or unreadable file.
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    from cxrdet.engines.checkpoint import trusted_checkpoints

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise InputError(checkpoint, "checkpoint not found (cxrdet never downloads weights)")
    try:
        with trusted_checkpoints([checkpoint]):
            data = _load_checkpoint(str(checkpoint), map_location="cpu", logger="silent")
    except Exception as err:
        raise InputError(checkpoint, f"not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise InputError(checkpoint, "not an mmengine checkpoint (no dict inside)")
    return data


_RECORDS: dict[tuple, dict] = {}


def record_of(checkpoint: str | Path) -> dict:
    """``meta['cxrdet']`` of a checkpoint written by cxrdet train (empty for others), plus mmdet's class names.

    Read once per file version (path, size, mtime).
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise InputError(path, "checkpoint not found (cxrdet never downloads weights)")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _RECORDS:
        _RECORDS[key] = _read_record(path)
    return dict(_RECORDS[key])


def _read_record(checkpoint: Path) -> dict:
    meta = read_checkpoint(checkpoint).get("meta") or {}
    record = dict(meta.get("cxrdet") or {})
    names = (meta.get("dataset_meta") or {}).get("classes")
    if names:
        record.setdefault("detector_classes", list(names))
    return record


def meta_of_record(record: dict, fallback: DatasetMeta | None = None) -> DatasetMeta:
    """The class list a checkpoint predicts: the one cxrdet recorded, else ``fallback`` (the convert folder's),
    else one made from mmdet's class names (VinDr when they are VinDr's findings)."""
    if record.get("dataset"):
        return DatasetMeta.from_dict(dict(record["dataset"]))
    if fallback is not None:
        return fallback
    names = record.get("detector_classes")
    if names and [VINDR.name(c) for c in VINDR.finding_classes] != list(names):
        return DatasetMeta(tuple(names), None)
    return VINDR


def detector_class_ids(meta: DatasetMeta) -> np.ndarray:
    """Detector label -> class id: the data set's finding classes in id order (the "no finding" class skipped)."""
    return np.asarray(meta.finding_classes, dtype=np.int64)


def build_model(
    cfg,
    checkpoint: str | Path,
    device: str,
    conf: float | None,
    iou: float | None,
    max_det: int | None,
    num_classes: int | None = None,
):
    """The config's detector with the checkpoint's weights, in eval mode on ``device``.

    ``num_classes``: see :func:`build_detector`.
    """
    from mmengine.runner.checkpoint import load_checkpoint

    from cxrdet.engines.checkpoint import trusted_checkpoints

    if not Path(checkpoint).is_file():
        raise InputError(checkpoint, "checkpoint not found (cxrdet never downloads weights)")
    model = build_detector(cfg, num_classes, lambda model_cfg: _set_test_cfg(model_cfg, conf, iou, max_det))
    with trusted_checkpoints([checkpoint]):
        load_checkpoint(model, str(checkpoint), map_location="cpu", logger="silent")
    return model.to(device).eval()


def build_detector(cfg, num_classes: int | None = None, adjust=None):
    """The config's detector, built in its scope without reading any pretrained file (initial weights).

    Args:
        cfg: the loaded mmengine ``Config``.
        num_classes: the detector's classes (the finding classes it was trained on), set in every head as
            training does (:func:`cxrdet.engines.runner.config.set_num_classes`); None keeps the config's.
        adjust: optional callable changing the copied model config before the build (e.g. test settings).
    """
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope

    import cxrdet.datasets
    import cxrdet.models  # noqa: F401 - cxrdet's models
    from cxrdet.engines.runner.config import set_num_classes

    model_cfg = copy.deepcopy(cfg.model)  # a ConfigDict: mmdet reads test_cfg by attribute
    if adjust is not None:
        adjust(model_cfg)
    if num_classes is not None:
        set_num_classes(model_cfg, int(num_classes))
    _drop_init(model_cfg)
    with DefaultScope.overwrite_default_scope(_scope(cfg)):
        return MODELS.build(model_cfg)


def _drop_init(node: Any) -> None:
    """No pretrained weights are read while building (the checkpoint replaces them all)."""
    if isinstance(node, dict):
        if isinstance(node.get("init_cfg"), dict) and node["init_cfg"].get("type") == "Pretrained":
            node["init_cfg"] = None
        if "pretrained" in node and isinstance(node["pretrained"], str):
            node["pretrained"] = None
        for value in node.values():
            _drop_init(value)
    elif isinstance(node, list):
        for value in node:
            _drop_init(value)


def test_pipeline_steps(cfg) -> list[dict]:
    """The test (else val) dataset's pipeline of a loaded config (else its ``test_pipeline``), as copied dicts."""
    from cxrdet.engines.runner.config import leaf_datasets

    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader") or {}
    for dataset in leaf_datasets(loader.get("dataset")):
        if dataset.get("pipeline"):
            return [dict(s) for s in copy.deepcopy(list(dataset["pipeline"]))]
    if cfg.get("test_pipeline"):
        return [dict(s) for s in copy.deepcopy(list(cfg.test_pipeline))]
    raise ConfigError("the config has no test pipeline (test_dataloader.dataset.pipeline or test_pipeline)")


def torch_device(device: str | None) -> str:
    """``cpu``, ``0`` / ``cuda:0`` -> a torch device string (None or empty: CUDA when available, else CPU)."""
    import torch

    if device in (None, ""):
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    return f"cuda:{device}" if device.isdigit() else device


def test_pipeline(cfg, imgsz: int | None = None):
    """``(loading transform config, the rest as one callable, input size)`` of the config's test pipeline.

    Annotation loading is dropped (prediction has none); ``imgsz`` replaces every ``Resize`` scale.
    """
    from mmcv.transforms import Compose
    from mmengine.registry import DefaultScope

    steps = test_pipeline_steps(cfg)
    load = steps[0]
    if "Load" not in str(load.get("type")) or "Image" not in str(load.get("type")):
        raise ConfigError(f"the test pipeline starts with {load.get('type')!r}, not an image loading transform")
    rest = [s for s in steps[1:] if "LoadAnnotations" not in str(s.get("type"))]
    size = None
    for step in rest:
        if str(step.get("type")).endswith("Resize") and "scale" in step:
            if imgsz:
                step["scale"] = (int(imgsz), int(imgsz))
            scale = step["scale"]
            size = max(scale) if isinstance(scale, (list, tuple)) else scale
    with DefaultScope.overwrite_default_scope(_scope(cfg)):
        import mmdet.datasets.transforms  # noqa: F401 - registers mmdet's transforms

        pipeline = Compose(rest)
    return load, pipeline, size
