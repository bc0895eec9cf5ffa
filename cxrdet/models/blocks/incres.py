"""Inception-ResNet modules IncRes1 and IncRes2 (TJ-Net's multi-scale residual blocks) and their conv unit.

Each module has four branches over the same input, concatenated (``4 x branch_channels``), projected back to
the input width by a 1x1 convolution (bias, no norm, no activation: the residual branch is linear as in
Inception-ResNet), added to the input scaled by ``scale`` and passed through ReLU:
``out = ReLU(x + scale * proj(concat(branches)))``. ``scale`` 0.2 by default (Szegedy et al. scale the
residual by 0.1-0.3 for stability); with ``scale=0`` the module is exactly ``ReLU(x)``.

Branches (every conv is a :class:`ConvBNReLU` unit: conv without bias, batch norm, ReLU; "same" padding):

- IncRes1 (mixes of 1x1 and 3x3): ``1x1`` | ``1x1 -> 3x3`` | ``1x1 -> 3x3 -> 3x3`` | ``avgpool3x3 -> 1x1``.
- IncRes2 (the write-up's 1x1, 3x3, 1x3, 3x1 kernels): ``1x1`` | ``1x1 -> 3x3`` | ``1x1 -> 1x3 -> 3x1`` |
  ``1x1 -> 3x1 -> 1x3``.

Parameters (input width ``C``, branch width ``b``; a unit of ``k`` taps costs ``k*cin*cout + 2*cout``):
IncRes1 ``8Cb + 27b^2 + 14b + C``, IncRes2 ``8Cb + 21b^2 + 18b + C``.
"""

from __future__ import annotations

import torch
from torch import nn

from cxrdet.registry import MODELS


def _pair(k: int | tuple[int, int]) -> tuple[int, int]:
    return (k, k) if isinstance(k, int) else (int(k[0]), int(k[1]))


class ConvBNReLU(nn.Sequential):
    """Conv (no bias, "same" padding for stride 1) -> BatchNorm -> ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: an int or ``(kh, kw)`` (e.g. ``(1, 3)``).
        stride: convolution stride.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3, stride: int = 1
    ) -> None:
        kh, kw = _pair(kernel_size)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, (kh, kw), stride=stride, padding=(kh // 2, kw // 2), bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)


class _IncResBase(nn.Module):
    """Four branches -> concat -> 1x1 projection -> ``ReLU(x + scale * proj)``."""

    def __init__(self, channels: int, branch_channels: int | None, scale: float) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"{type(self).__name__}: channels={channels} must be positive")
        self.channels = int(channels)
        self.branch_channels = int(branch_channels) if branch_channels else max(channels // 4, 1)
        self.scale = float(scale)
        self.branches = nn.ModuleList(self._branches(self.channels, self.branch_channels))
        self.proj = nn.Conv2d(4 * self.branch_channels, self.channels, 1, bias=True)
        self.act = nn.ReLU(inplace=False)

    def _branches(self, c: int, b: int) -> list[nn.Module]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same shape as ``x`` (``B x C x H x W``)."""
        mixed = torch.cat([branch(x) for branch in self.branches], dim=1)
        return self.act(x + self.scale * self.proj(mixed))


@MODELS.register_module()
class IncRes1(_IncResBase):
    """Inception-ResNet module 1: ``1x1 | 1x1->3x3 | 1x1->3x3->3x3 | avgpool->1x1``.

    Args:
        channels: input (and output) channels ``C``.
        branch_channels: every branch conv's width ``b`` (default ``max(C // 4, 1)``: the concat is ``C`` wide).
        scale: the residual scale.
    """

    def __init__(self, channels: int, branch_channels: int | None = None, scale: float = 0.2) -> None:
        super().__init__(channels, branch_channels, scale)

    def _branches(self, c: int, b: int) -> list[nn.Module]:
        return [
            ConvBNReLU(c, b, 1),
            nn.Sequential(ConvBNReLU(c, b, 1), ConvBNReLU(b, b, 3)),
            nn.Sequential(ConvBNReLU(c, b, 1), ConvBNReLU(b, b, 3), ConvBNReLU(b, b, 3)),
            nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), ConvBNReLU(c, b, 1)),
        ]


@MODELS.register_module()
class IncRes2(_IncResBase):
    """Inception-ResNet module 2: ``1x1 | 1x1->3x3 | 1x1->1x3->3x1 | 1x1->3x1->1x3``.

    Args:
        channels: input (and output) channels ``C``.
        branch_channels: every branch conv's width ``b`` (default ``max(C // 4, 1)``).
        scale: the residual scale.
    """

    def __init__(self, channels: int, branch_channels: int | None = None, scale: float = 0.2) -> None:
        super().__init__(channels, branch_channels, scale)

    def _branches(self, c: int, b: int) -> list[nn.Module]:
        return [
            ConvBNReLU(c, b, 1),
            nn.Sequential(ConvBNReLU(c, b, 1), ConvBNReLU(b, b, 3)),
            nn.Sequential(ConvBNReLU(c, b, 1), ConvBNReLU(b, b, (1, 3)), ConvBNReLU(b, b, (3, 1))),
            nn.Sequential(ConvBNReLU(c, b, 1), ConvBNReLU(b, b, (3, 1)), ConvBNReLU(b, b, (1, 3))),
        ]
