"""CBAM, the Convolutional Block Attention Module (Woo et al., ECCV 2018): a building block of cxrdet's models.

Used inside TJ-Net's blocks 1-3 (bone age) and CA-U-Net. ``ChannelGate`` re-weights channels, then
``SpatialGate`` re-weights positions; :class:`CBAM` applies the two in that order and keeps its last spatial
attention map (``last_spatial_attention``, detached, ``B x 1 x H x W``) for the explainability maps.

Channel gate: one MLP ``C -> hidden -> C`` (ReLU between, biases on) shared by the global average-pooled and the
global max-pooled descriptor; the two outputs are summed, then sigmoid. ``hidden = max(C // reduction,
min(min_hidden, C))``: reduction 16 with a floor of 8 hidden units for small channel counts (a 32-channel map
keeps 8 units, not 2), never more units than channels.

Spatial gate: per position the channel MAXIMUM and the channel MEAN, stacked in that order ``[max, mean]``
as a 2-channel map, a 7x7 convolution (padding 3, no bias) to 1 channel, batch norm, sigmoid.
"""

from __future__ import annotations

import torch
from torch import nn

from cxrdet.registry import MODELS


class ChannelGate(nn.Module):
    """Channel attention: ``x * sigmoid(mlp(avgpool(x)) + mlp(maxpool(x)))``.

    Args:
        channels: input (and output) channels ``C``.
        reduction: the MLP's reduction ratio (hidden units ``C // reduction`` before the floor).
        min_hidden: the floor of hidden units for small ``C`` (never above ``C``).
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 8) -> None:
        super().__init__()
        if channels < 1 or reduction < 1 or min_hidden < 1:
            raise ValueError(f"ChannelGate: channels={channels}, reduction={reduction}, min_hidden={min_hidden}")
        self.channels = int(channels)
        self.hidden = max(channels // reduction, min(min_hidden, channels))
        self.mlp = nn.Sequential(
            nn.Linear(channels, self.hidden), nn.ReLU(inplace=True), nn.Linear(self.hidden, channels)
        )

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The channel weights in (0, 1), shape ``B x C``."""
        avg = x.mean(dim=(2, 3))
        mx = x.amax(dim=(2, 3))
        return torch.sigmoid(self.mlp(avg) + self.mlp(mx))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of ``x`` (``B x C x H x W``) by its weight."""
        return x * self.attention(x)[:, :, None, None]


class SpatialGate(nn.Module):
    """Spatial attention: ``x * sigmoid(BN(conv7x7([max_c(x), mean_c(x)])))``.

    Args:
        kernel_size: the convolution's size (7 in CBAM; odd, padding ``kernel_size // 2``).
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"SpatialGate: kernel_size={kernel_size} must be odd and positive")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    @staticmethod
    def pool(x: torch.Tensor) -> torch.Tensor:
        """``[channel max, channel mean]`` of ``x``: ``B x 2 x H x W``."""
        return torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The position weights in (0, 1), shape ``B x 1 x H x W``."""
        return torch.sigmoid(self.bn(self.conv(self.pool(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each position of ``x`` by its weight."""
        return x * self.attention(x)


@MODELS.register_module()
class CBAM(nn.Module):
    """Channel gate then spatial gate; the last spatial map is kept in ``last_spatial_attention``.

    Args:
        channels: input (and output) channels.
        reduction: the channel gate's reduction ratio.
        min_hidden: the channel gate's floor of hidden units.
        kernel_size: the spatial gate's convolution size.
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 8, kernel_size: int = 7) -> None:
        super().__init__()
        self.channel_gate = ChannelGate(channels, reduction=reduction, min_hidden=min_hidden)
        self.spatial_gate = SpatialGate(kernel_size=kernel_size)
        self.last_spatial_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over channels, then positions; same shape as ``x``."""
        x = self.channel_gate(x)
        spatial = self.spatial_gate.attention(x)
        self.last_spatial_attention = spatial.detach()
        return x * spatial
