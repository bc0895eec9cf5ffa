"""EfficientDet building block: the depthwise-separable 3x3 convolution of the BiFPN nodes and the head.

Depthwise 3x3 (no bias) then pointwise 1x1 (with bias), both with TF SAME padding; optionally followed by
a norm layer. The head keeps its norms outside (one per pyramid level), so it builds these without one.
"""

from __future__ import annotations

import torch
from mmcv.cnn import build_norm_layer
from torch import nn

from cxrdet.models.efficientdet.same_padding import Conv2dSamePadding


class SeparableConv(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 (+ norm).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        norm_cfg: mmcv norm config (e.g. ``dict(type='BN', momentum=0.01, eps=1e-3)``), or None for none.
    """

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.depthwise = Conv2dSamePadding(in_channels, in_channels, 3, groups=in_channels, bias=False)
        self.pointwise = Conv2dSamePadding(in_channels, out_channels, 1, bias=True)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1] if norm_cfg is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x in x H x W`` -> ``N x out x H x W``."""
        x = self.pointwise(self.depthwise(x))
        return self.norm(x) if self.norm is not None else x
