"""Segmentation building blocks of the U-Net family (CA-U-Net): the double 3x3 convolution and ASPP.

``DoubleConv`` is U-Net's stage: (3x3 conv, norm, ReLU) twice, padding 1 so the size is kept. ``ASPP`` is
DeepLab's atrous spatial pyramid pooling, the multi-scale context block at CA-U-Net's bottleneck: five parallel
branches over the same input, a 1x1 conv, three atrous 3x3 convs (dilation = padding = each rate, 6/12/18) and
image pooling (global average -> 1x1 conv -> ReLU -> broadcast back), each with ``branch_channels`` channels
(DeepLab: 256), concatenated and projected by a 1x1 conv to ``out_channels``.
Every conv branch has a norm and ReLU; the image-pooling branch has NO norm: its map is 1x1, so a batch norm there
would see one value per channel at batch size 1 and fail in training (DeepLab v3 puts one there; batch 1 is the
write-up's regime with batch 4 and a small last batch). ``norm='GN'`` swaps every batch norm for a group norm.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("BN", "GN")


def make_norm(norm: str, channels: int) -> nn.Module:
    """``BatchNorm2d`` (``'BN'``) or ``GroupNorm`` (``'GN'``: 8 groups, fewer when ``channels`` is not divisible).

    Raises:
        ValueError: an unknown norm.
    """
    if norm == "BN":
        return nn.BatchNorm2d(channels)
    if norm == "GN":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    raise ValueError(f"norm={norm!r}: expected one of {NORMS}")


def conv_norm_relu(in_channels: int, out_channels: int, kernel: int, norm: str, dilation: int = 1) -> nn.Sequential:
    """Conv (no bias: the norm has one; padding keeps the size), norm, ReLU."""
    padding = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=padding, dilation=dilation, bias=False),
        make_norm(norm, out_channels),
        nn.ReLU(inplace=True),
    )


class DoubleConv(nn.Sequential):
    """U-Net's stage: two (3x3 conv, norm, ReLU), same size out.

    Args:
        in_channels: input channels.
        out_channels: output channels (both convs).
        norm: ``'BN'`` or ``'GN'``.
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str = "BN") -> None:
        super().__init__(
            conv_norm_relu(in_channels, out_channels, 3, norm), conv_norm_relu(out_channels, out_channels, 3, norm)
        )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, atrous 3x3 per rate, image pooling; concatenated, 1x1 projection.

    Args:
        in_channels: input channels.
        out_channels: channels of the output.
        rates: dilation rates of the atrous 3x3 branches (DeepLab v3: 6, 12, 18).
        norm: ``'BN'`` or ``'GN'`` (not in the image-pooling branch, see the module docstring).
        dropout: dropout after the projection (0: none).
        branch_channels: channels of each branch (None: ``out_channels``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        rates: Sequence[int] = (6, 12, 18),
        norm: str = "BN",
        dropout: float = 0.0,
        branch_channels: int | None = None,
    ) -> None:
        super().__init__()
        rates = tuple(int(r) for r in rates)
        if not rates or min(rates) < 1:
            raise ValueError(f"ASPP: rates={rates} must be positive integers")
        self.rates = rates
        width = int(branch_channels or out_channels)
        self.branches = nn.ModuleList(
            [conv_norm_relu(in_channels, width, 1, norm)]
            + [conv_norm_relu(in_channels, width, 3, norm, dilation=r) for r in rates]
        )
        self.image_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, width, 1, bias=True), nn.ReLU(inplace=True)
        )
        self.project = conv_norm_relu((len(rates) + 2) * width, out_channels, 1, norm)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x in x H x W`` -> ``B x out x H x W``."""
        pooled = F.interpolate(self.image_pool(x), size=x.shape[-2:], mode="nearest")  # a constant map
        return self.dropout(self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1)))
