"""Benchmarking, detectors: the model of a config (MMDetection or YOLO), built offline, with inputs to feed it.

:func:`load_detector` reads a config (cxrdet's reader: ``_base_``, ``mmdet::`` bases, ``--cfg-options``) and
builds its network without downloading anything: every ``init_cfg`` of type ``Pretrained`` and every
``pretrained`` path is dropped first, then the model gets mmdet's own random initialisation (the start of a
run from scratch: parameters, compute and speed are those of the trained model), SyncBN becomes BN, and
the batch-norm statistics are set from one batch (:func:`calibrate_norms`). YOLO configs (``engine =
'ultralytics'``) are built by the Ultralytics engine's own untrained checkpoint. The :class:`Detector` it
returns knows the config's input size and channels, makes inputs (:meth:`Detector.inputs`) and runs the
network forward (:meth:`Detector.forward`: mmdet's ``mode='tensor'``, the pass ``get_flops.py`` counts;
YOLO's raw head output), so counting and timing see the same call.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxrdet.benchmarking.counting import Complexity, count_complexity
from cxrdet.errors import ConfigError

RESIZE_TYPES = ("Resize", "RandomResize", "FixShapeResize", "RandomChoiceResize")
"""Pipeline transforms whose scale fixes the network input (the first one of the test pipeline is used)."""


@dataclass
class Detector:
    """A built detector network and how to feed it.

    Attributes:
        name: the config file's stem.
        engine: ``'mmdet'`` or ``'ultralytics'``.
        model: the ``torch.nn.Module`` (in eval mode).
        size: the config's network input ``(height, width)``.
        channels: input channels (1 for grey configs with a one-value ``data_preprocessor`` mean).
        size_divisor: inputs are padded to a multiple of it.
        removed: the pretrained-weight references dropped to build offline (``where: value``).
    """

    name: str
    engine: str
    model: Any
    size: tuple[int, int]
    channels: int = 3
    size_divisor: int = 32
    removed: list[str] = field(default_factory=list)

    def padded(self, size: int | tuple[int, int] | None = None) -> tuple[int, int]:
        """``size`` (None: the config's; an int is square) padded up to :attr:`size_divisor`."""
        h, w = self.size if size is None else (size, size) if isinstance(size, int) else size
        d = max(1, int(self.size_divisor))
        return int(math.ceil(h / d) * d), int(math.ceil(w / d) * d)

    def inputs(self, batch: int = 1, size: int | tuple[int, int] | None = None, device: Any = "cpu") -> tuple:
        """Arguments of :meth:`forward` for ``batch`` images at ``size`` (random normalised pixels, seeded)."""
        import torch

        h, w = self.padded(size)
        gen = torch.Generator().manual_seed(0)
        images = torch.randn((batch, self.channels, h, w), generator=gen)
        if self.engine == "ultralytics":
            return (images.sigmoid().to(device),)  # Ultralytics feeds pixels / 255 in [0, 1]
        from mmdet.structures import DetDataSample

        samples = []
        for _ in range(batch):
            sample = DetDataSample()
            sample.set_metainfo(
                {
                    "img_shape": (h, w),
                    "ori_shape": (h, w),
                    "pad_shape": (h, w),
                    "batch_input_shape": (h, w),
                    "scale_factor": (1.0, 1.0),
                    "flip": False,
                    "flip_direction": None,
                }
            )
            samples.append(sample)
        return images.to(device), samples

    def forward(self, *inputs: Any) -> Any:
        """One network forward on :meth:`inputs` (no gradient): mmdet ``mode='tensor'``, YOLO's raw output."""
        import torch

        with torch.no_grad():
            return _forward(self.engine, self.model, *inputs)

    def complexity(self, size: int | tuple[int, int] | None = None) -> Complexity:
        """Parameters and multiply-adds of one forward at ``size`` (default: the config's), batch 1."""
        images, *rest = self.inputs(
            1, size
        )  # only tensors are traced: the data samples are bound, as get_flops.py does
        return count_complexity(self.model, images, forward=lambda m, x: _forward(self.engine, m, x, *rest))

    def to(self, device: Any) -> Detector:
        """Moves the network to ``device`` (returns self)."""
        self.model.to(device)
        return self


def _forward(engine: str, model: Any, *inputs: Any) -> Any:
    if engine == "ultralytics":
        return model(inputs[0])
    images, samples = inputs
    return model(images, samples, mode="tensor")


def strip_pretrained(model_cfg: Any, where: str = "model") -> list[str]:
    """Drops, in place, every reference to pretrained weights in a model config: ``init_cfg`` dicts (or list
    entries) of type ``Pretrained`` and string ``pretrained`` values (DetectoRS' ``neck.rfp_backbone``).

    Returns:
        ``'path: value'`` for each reference dropped.
    """
    removed: list[str] = []
    for path, node in _dicts(model_cfg, where):
        init = node.get("init_cfg")
        if isinstance(init, Mapping) and init.get("type") == "Pretrained":
            removed.append(f"{path}.init_cfg: {init.get('checkpoint')}")
            node["init_cfg"] = None
        elif isinstance(init, list):
            keep = [c for c in init if not (isinstance(c, Mapping) and c.get("type") == "Pretrained")]
            removed += [f"{path}.init_cfg: {c.get('checkpoint')}" for c in init if c not in keep]
            node["init_cfg"] = keep or None
        if isinstance(node.get("pretrained"), str):
            removed.append(f"{path}.pretrained: {node['pretrained']}")
            node["pretrained"] = None
    return removed


def _dicts(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        yield path, node
        for key, value in list(node.items()):
            yield from _dicts(value, f"{path}.{key}")
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _dicts(value, f"{path}.{i}")


def _pipeline(cfg: Any) -> list:
    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader") or {}
    dataset = loader.get("dataset") or {}
    while isinstance(dataset, Mapping) and "pipeline" not in dataset and "dataset" in dataset:
        dataset = dataset["dataset"]
    return list((dataset or {}).get("pipeline") or cfg.get("test_pipeline") or [])


def config_input_size(cfg: Any) -> tuple[int, int]:
    """The network input ``(height, width)`` a config's test pipeline gives a square image.

    mmdet's ``scale`` is ``(width, height)``; with ``keep_ratio`` a square image fits into it, so the input
    is ``min(scale)`` square (``(1333, 800)`` -> 800 x 800); without, it is the scale itself. A ``Pad`` of a
    fixed ``size`` wins.

    Raises:
        ConfigError: no resize transform with a scale in the test pipeline.
    """
    size = None
    for step in _pipeline(cfg):
        kind = str(step.get("type", "")).split(".")[-1]
        if size is None and kind in RESIZE_TYPES:
            scale = step.get("scale") or step.get("scales") or (step.get("width"), step.get("height"))
            if isinstance(scale, list) and scale and isinstance(scale[0], (list, tuple)):
                scale = max(scale, key=lambda s: s[0] * s[1])  # a choice of scales: the largest
            if isinstance(scale, int):
                scale = (scale, scale)
            if scale and all(isinstance(v, int) for v in scale):
                w, h = scale
                size = (min(w, h), min(w, h)) if step.get("keep_ratio") else (h, w)
        if kind == "Pad" and isinstance(step.get("size"), (list, tuple)):
            w, h = step["size"]
            size = (h, w)
    if size is None:
        raise ConfigError("no Resize with a scale in the config's test pipeline: cannot tell its input size")
    return int(size[0]), int(size[1])


def _read(path: str | os.PathLike, options: Mapping[str, Any] | None) -> Any:
    from cxrdet.config import read_config, resolve_path

    return read_config(resolve_path(path), options)


def config_engine(path: str | os.PathLike, options: Mapping[str, Any] | None = None) -> str:
    """``'ultralytics'`` for a YOLO config, else ``'mmdet'`` (a config with a ``model`` dict)."""
    cfg = _read(path, options)
    engine = cfg.get("engine")
    if engine == "ultralytics" or (engine is None and isinstance(cfg.get("model"), str)):
        return "ultralytics"
    return "mmdet"


def load_detector(path: str | os.PathLike, options: Mapping[str, Any] | None = None) -> Detector:
    """The untrained network of a config, built offline (see the module docstring).

    Args:
        path: a config file (or a path among the configs shipped with cxrdet).
        options: ``--cfg-options`` (nested or dotted dict).

    Raises:
        ConfigError: the config cannot be read or has no input size.
    """
    if config_engine(path, options) == "ultralytics":
        return _load_yolo(path, options)
    return _load_mmdet(path, options)


def _load_mmdet(path: str | os.PathLike, options: Mapping[str, Any] | None) -> Detector:
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, init_default_scope

    cfg = _read(path, options)
    if not isinstance(cfg.get("model"), Mapping):
        raise ConfigError(f"{path}: no model dict to build")
    model_cfg = copy.deepcopy(cfg.model)
    removed = strip_pretrained(model_cfg)
    init_default_scope(cfg.get("default_scope", "mmdet"))
    model = MODELS.build(model_cfg)
    _quiet_init(model)
    model = revert_sync_batchnorm(model).eval()
    pre = model_cfg.get("data_preprocessor") or {}
    mean = pre.get("mean")
    det = Detector(
        name=Path(path).stem,
        engine="mmdet",
        model=model,
        size=config_input_size(cfg),
        channels=len(mean) if mean else 3,
        size_divisor=int(pre.get("pad_size_divisor") or 1),
        removed=removed,
    )
    calibrate_norms(det)
    return det


def _quiet_init(model: Any) -> None:
    """mmdet's own initialisation (offline now: what a run from scratch starts from), its per-layer log muted."""
    import logging

    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)


def calibrate_norms(det: Detector, size: int = 128, batch: int = 2) -> None:
    """Sets every batch-norm layer's running statistics to those of one training-mode forward (exact averages).

    A freshly initialised network in eval mode normalises with mean 0 and variance 1, so its activations grow
    layer after layer (to ~1e7 in a ResNet-50 + RFP): the RPN then proposes no valid box and the RoI heads,
    a real part of a two-stage detector's cost, would run on nothing. After this, the activations (and so the
    proposals, the timing and the count) are those of a network that has seen images.
    """
    import torch

    norms = [m for m in det.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one pass gives the batch's exact statistics
    det.model.train()
    for m in norms:
        m.train()  # also those a backbone keeps in eval mode (norm_eval=True)
    try:
        with torch.no_grad():
            images, *_ = det.inputs(batch, size)
            det.model.extract_feat(images)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        det.model.eval()


def _load_yolo(path: str | os.PathLike, options: Mapping[str, Any] | None) -> Detector:
    import torch

    from cxrdet.config import resolve_path
    from cxrdet.engines.yolo.checkpoints import untrained_checkpoint
    from cxrdet.engines.yolo.config import resolve_config

    cfg = resolve_config(resolve_path(path), dict(options or {}))
    imgsz = int(cfg["ultralytics"]["imgsz"])
    with tempfile.TemporaryDirectory(prefix="cxrdet-bench-") as tmp:
        weights = untrained_checkpoint(cfg, Path(tmp) / "untrained.pt", png_size=imgsz)
        model = torch.load(weights, map_location="cpu", weights_only=False)["model"]
    model = model.float().eval()
    return Detector(
        name=Path(path).stem,
        engine="ultralytics",
        model=model,
        size=(imgsz, imgsz),
        channels=3,
        size_divisor=max(32, int(model.stride.max())),
    )
