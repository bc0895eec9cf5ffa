"""Models, what their constructors share: a part built from a config dict (or taken as a module), and the
checked per-class weights of a loss or a sampling distribution."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.registry import MODELS


def build_part(part: dict | nn.Module, owner: str, what: str) -> nn.Module:
    """``part`` itself when it is a module, else ``MODELS.build(part)``.

    Raises:
        ConfigError: ``part`` is neither (the message names ``owner`` and ``what``).
    """
    if isinstance(part, nn.Module):
        return part
    if isinstance(part, dict):
        return MODELS.build(part)
    raise ConfigError(f"{owner}: {what} must be a config dict or an nn.Module, got {type(part).__name__}")


def class_weights(
    values: Sequence[float] | None, num_classes: int | None, owner: str, name: str = "class_weight"
) -> torch.Tensor | None:
    """``values`` as a float32 tensor of one weight per class (None stays None).

    Raises:
        ConfigError: not ``num_classes`` values (when known), a negative value, or all zero.
    """
    if values is None:
        return None
    weight = torch.as_tensor([float(w) for w in values], dtype=torch.float32)
    if num_classes is not None and weight.numel() != num_classes:
        raise ConfigError(f"{owner}: {name}: {weight.numel()} class weights for {num_classes} classes")
    if (weight < 0).any() or weight.sum() <= 0:
        raise ConfigError(f"{owner}: {name}={list(values)} must be >= 0, not all 0")
    return weight
