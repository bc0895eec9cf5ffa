"""Feature GAN step 2: one optimiser per sub-network, as mmengine's ``OptimWrapperDict`` (registered constructor).

mmengine 0.10.7 builds an ``OptimWrapperDict`` only from ready wrappers or through a constructor that knows the
sub-networks (mmagic's ``MultiOptimWrapperConstructor``; mmengine has none). This one reads a config whose keys
name the model's child modules, each with an ordinary optimiser-wrapper config::

    optim_wrapper = dict(
        constructor='FeatureGanOptimWrapperConstructor',
        generator=dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.5, 0.999))),
        discriminator=dict(optimizer=dict(type='Adam', lr=1e-4, betas=(0.5, 0.999))),
        classifier=dict(optimizer=dict(type='Adam', lr=1e-7)),
    )

and builds each with mmengine's ``DefaultOptimWrapperConstructor`` over that module's parameters only (a
``paramwise_cfg`` inside one key applies to that module).
"""

from __future__ import annotations

import copy

from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class FeatureGanOptimWrapperConstructor:
    """``{child name: optim wrapper config}`` -> ``OptimWrapperDict`` of the model's children.

    Args:
        optim_wrapper_cfg: one optimiser-wrapper config per child module name.
        paramwise_cfg: must be None here (give it inside a child's config).
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if paramwise_cfg is not None:
            raise ConfigError("FeatureGanOptimWrapperConstructor: put paramwise_cfg inside a sub-network's config")
        if not isinstance(optim_wrapper_cfg, dict) or not optim_wrapper_cfg:
            raise ConfigError("FeatureGanOptimWrapperConstructor: give one optim wrapper config per sub-network")
        for name, cfg in optim_wrapper_cfg.items():
            if not isinstance(cfg, dict) or "optimizer" not in cfg:
                raise ConfigError(f"optim_wrapper.{name}: expected dict(optimizer=dict(type=..., lr=...))")
        self.optim_wrapper_cfg = copy.deepcopy(dict(optim_wrapper_cfg))

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        model = getattr(model, "module", model)
        children = dict(model.named_children())
        wrappers = {}
        for name, cfg in self.optim_wrapper_cfg.items():
            if name not in children:
                raise ConfigError(
                    f"optim_wrapper.{name}: {type(model).__name__} has no sub-network {name!r} "
                    f"(it has {', '.join(sorted(children))})"
                )
            cfg = copy.deepcopy(cfg)
            paramwise = cfg.pop("paramwise_cfg", None)
            wrappers[name] = DefaultOptimWrapperConstructor(cfg, paramwise)(children[name])
        return OptimWrapperDict(**wrappers)
