"""EfficientDet building block: one BiFPN stage (a top-down then a bottom-up pass over P3-P7).

Each node fuses its inputs (fast normalised fusion), applies Swish, then a depthwise-separable conv + BN.
Top-down: ``td_i = node(in_i, up(td_{i+1}))``; bottom-up: ``out_i = node(lat_i, td_i, down(out_{i-1}))``
(the top level has no ``td``). Upsampling is nearest to the target size, downsampling a 3x3/2 max-pool
with TF SAME padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.models.efficientdet.fusion import FastNormalizedFusion
from cxrdet.models.efficientdet.same_padding import MaxPool2dSamePadding
from cxrdet.models.efficientdet.separable_conv import SeparableConv


class BiFPNNode(nn.Module):
    """Fusion -> Swish -> separable conv -> BN.

    Args:
        num_inputs: maps fused at this node.
        channels: channels of every map.
        norm_cfg: mmcv norm config of the conv's norm.
        eps: fusion epsilon.
    """

    def __init__(self, num_inputs: int, channels: int, norm_cfg: dict, eps: float = 1e-4) -> None:
        super().__init__()
        self.fusion = FastNormalizedFusion(num_inputs, eps)
        self.conv = SeparableConv(channels, channels, norm_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Fuses and convolves ``inputs`` (same shape)."""
        return self.conv(F.silu(self.fusion(inputs)))


class BiFPNLayer(nn.Module):
    """One bidirectional stage over ``num_levels`` maps of ``channels`` channels.

    Args:
        channels: channels of every level.
        num_levels: pyramid levels (5: P3-P7).
        norm_cfg: mmcv norm config.
        eps: fusion epsilon.
    """

    def __init__(self, channels: int, num_levels: int, norm_cfg: dict, eps: float = 1e-4) -> None:
        super().__init__()
        if num_levels < 2:
            raise ConfigError(f"BiFPN num_levels={num_levels}: a BiFPN needs at least 2 levels")
        self.num_levels = int(num_levels)
        self.top_down = nn.ModuleList(BiFPNNode(2, channels, norm_cfg, eps) for _ in range(num_levels - 1))
        self.bottom_up = nn.ModuleList(
            BiFPNNode(3 if i < num_levels - 1 else 2, channels, norm_cfg, eps) for i in range(1, num_levels)
        )
        self.down = MaxPool2dSamePadding(3, 2)

    def forward(
        self, inputs: Sequence[torch.Tensor], laterals: Sequence[torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """Runs the stage.

        Args:
            inputs: the ``num_levels`` maps, finest first, feeding the top-down pass.
            laterals: the maps the bottom-up nodes take as their own-level input (the first stage
                resamples the backbone's features twice, as the paper's implementation does); default
                ``inputs``.

        Returns:
            The ``num_levels`` output maps, finest first.
        """
        if len(inputs) != self.num_levels:
            raise ValueError(f"{len(inputs)} maps for a BiFPN stage of {self.num_levels} levels")
        laterals = inputs if laterals is None else laterals
        n = self.num_levels
        td: list[torch.Tensor] = [None] * n  # type: ignore[list-item]
        td[n - 1] = inputs[n - 1]
        for i in range(n - 2, -1, -1):
            up = F.interpolate(td[i + 1], size=inputs[i].shape[-2:], mode="nearest")
            td[i] = self.top_down[i]([inputs[i], up])
        outs = [td[0]]
        for i in range(1, n):
            down = self.down(outs[-1])
            if down.shape[-2:] != inputs[i].shape[-2:]:
                down = F.interpolate(down, size=inputs[i].shape[-2:], mode="nearest")
            fused = [laterals[i], td[i], down] if i < n - 1 else [laterals[i], down]
            outs.append(self.bottom_up[i - 1](fused))
        return outs
