"""Benchmarking, custom models: the network of an ``engine='mmengine'`` config, built offline, with inputs to feed it.

The counterpart of :mod:`cxrdet.benchmarking.detectors` for cxrdet's own models (fracture CNNs, TJ-Net, the
normal/abnormal classifier, and any other registered mmengine model): the model is built by the engine's own
builder (:func:`cxrdet.engines.runner.task_model.build_task_model`: the config's scope, every ``Pretrained``
reference dropped), initialised as a run from scratch starts, and fed preprocessed tensors through
``mode='tensor'`` (the network alone: what mmengine's FlopAnalyzer counts and the timing runs). The returned
:class:`TaskNetwork` has the :class:`~cxrdet.benchmarking.detectors.Detector` interface, so one benchmark row
serves every engine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxrdet.benchmarking.counting import Complexity, count_complexity
from cxrdet.benchmarking.detectors import Detector, _quiet_init
from cxrdet.errors import ConfigError

DEFAULT_SIZE = 224
"""Input size of a config whose test pipeline names none (no Resize / CenterCrop)."""


def _tensors(out: Any) -> Any:
    """The tensor(s) of a ``mode='tensor'`` output: a tensor as is, a dict or list as a tuple of its tensors."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    values = out.values() if isinstance(out, Mapping) else out if isinstance(out, (list, tuple)) else []
    found = tuple(v for v in values if isinstance(v, torch.Tensor))
    if not found:
        raise ConfigError(f"the model's mode='tensor' output has no tensor ({type(out).__name__})")
    return found[0] if len(found) == 1 else found


def _forward(model: Any, images: Any) -> Any:
    return _tensors(model(images, mode="tensor"))


@dataclass
class TaskNetwork(Detector):
    """A custom model's network and how to feed it (see :class:`~cxrdet.benchmarking.detectors.Detector`)."""

    def inputs(self, batch: int = 1, size: int | tuple[int, int] | None = None, device: Any = "cpu") -> tuple:
        """``(images,)``: ``batch`` seeded random preprocessed images (normalised) at ``size``."""
        import torch

        h, w = self.padded(size)
        gen = torch.Generator().manual_seed(0)
        return (torch.randn((batch, self.channels, h, w), generator=gen).to(device),)

    def forward(self, *inputs: Any) -> Any:
        """One ``mode='tensor'`` forward (no gradient)."""
        import torch

        with torch.no_grad():
            return _forward(self.model, inputs[0])

    def complexity(self, size: int | tuple[int, int] | None = None) -> Complexity:
        """Parameters and multiply-adds of one ``mode='tensor'`` forward at ``size``, batch 1."""
        (images,) = self.inputs(1, size)
        return count_complexity(self.model, images, forward=_forward)


def input_channels(cfg: Any) -> int:
    """Channels of the network input: the loading transform's ``channels``, else the data preprocessor's mean,
    else the backbone's ``in_channels`` / ``in_chans``, else 3."""
    from cxrdet.engines.runner.model import test_pipeline_steps

    try:
        steps = test_pipeline_steps(cfg)
    except ConfigError:
        steps = []
    for step in steps:
        if "Load" in str(step.get("type")) and step.get("channels"):
            return int(step["channels"])
    model = cfg.get("model") or {}
    mean = (model.get("data_preprocessor") or cfg.get("data_preprocessor") or {}).get("mean")
    if mean:
        return len(mean)
    backbone = model.get("backbone") or {}
    for key in ("in_channels", "in_chans"):
        if backbone.get(key) or model.get(key):
            return int(backbone.get(key) or model.get(key))
    return 3


def load_task_network(path: str | os.PathLike, options: Mapping[str, Any] | None = None) -> TaskNetwork:
    """The untrained network of an ``engine='mmengine'`` config, built offline, in eval mode.

    Args:
        path: the config file (or a path among the configs shipped with cxrdet).
        options: ``--cfg-options`` (nested or dotted dict).

    Raises:
        ConfigError: the config cannot be read or builds no model.
    """
    import torch

    from cxrdet.config import read_config, resolve_path
    from cxrdet.engines.runner.task_engine import _input_size
    from cxrdet.engines.runner.task_model import build_task_model

    cfg = read_config(resolve_path(path), options)
    if not isinstance(cfg.get("model"), Mapping):
        raise ConfigError(f"{path}: no model dict to build")
    seed = (cfg.get("randomness") or {}).get("seed")
    torch.manual_seed(0 if seed is None else int(seed))
    model = build_task_model(cfg)
    if hasattr(model, "init_weights"):
        _quiet_init(model)
    size = _input_size(cfg) or DEFAULT_SIZE
    return TaskNetwork(
        name=Path(path).stem,
        engine="mmengine",
        model=model.eval(),
        size=(int(size), int(size)),
        channels=input_channels(cfg),
        size_divisor=1,
    )
