"""EfficientDet building block: TensorFlow's ``padding='SAME'`` for convolutions and max-pooling.

TF pads so that the output has ``ceil(size / stride)`` elements and puts the odd pixel of padding at the
end (bottom/right); PyTorch's symmetric ``padding=k // 2`` differs on odd sizes with stride 2. The
backbone (through ``conv_cfg=dict(type='cxrdet.Conv2dSamePadding')``), the BiFPN and the head use these.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cxrdet.registry import MODELS


def same_padding(size: int, kernel_size: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF's SAME padding of one dimension.

    Args:
        size: input length.
        kernel_size: kernel length.
        stride: stride.
        dilation: dilation.

    Returns:
        (before, after): the padding at the start and at the end; ``after`` takes the odd pixel.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel_size - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _pad_same(
    x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], value: float
):
    top, bottom = same_padding(x.shape[-2], kernel[0], stride[0], dilation[0])
    left, right = same_padding(x.shape[-1], kernel[1], stride[1], dilation[1])
    if top or bottom or left or right:
        x = F.pad(x, [left, right, top, bottom], value=value)
    return x


@MODELS.register_module()
class Conv2dSamePadding(nn.Conv2d):
    """``nn.Conv2d`` with TF's SAME padding computed from each input's size (``padding`` is ignored).

    Same signature as ``nn.Conv2d`` so that mmcv's ``build_conv_layer`` (``conv_cfg``) can build it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        del padding  # SAME padding is computed per input
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pads ``x`` as TF does, then convolves."""
        x = _pad_same(x, self.kernel_size, self.stride, self.dilation, 0.0)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


@MODELS.register_module()
class MaxPool2dSamePadding(nn.Module):
    """Max-pooling with TF's SAME padding: padded cells never win (they hold ``-inf``).

    Args:
        kernel_size: pooling window.
        stride: stride.
    """

    def __init__(self, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel_size = (int(kernel_size), int(kernel_size))
        self.stride = (int(stride), int(stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pads ``x`` with ``-inf`` as TF does, then max-pools."""
        x = _pad_same(x, self.kernel_size, self.stride, (1, 1), float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride)
