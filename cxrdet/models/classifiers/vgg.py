"""VGG-style backbone of the fracture classifiers: stages of 3x3 convolutions, each stage ending in a 2x2 pool.

The seed (``fracture_cnn.txt``) names only the conv-layer counts (8 and 10) and the parameter counts
(395,634 and 7,638,210 for a grey 400 x 400 input and 2 classes); ``configs/fracture/vgg*`` state the design
that comes closest. Output: the flattened last map (``out='flatten'``), its adaptive average (``'avg'``, global or
``avg_size`` x ``avg_size``, flattened) or the map itself (``'map'``), for :class:`~cxrdet.models.classifiers.ClsHead`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.registry import MODELS

_OUTS = ("flatten", "avg", "map")


@MODELS.register_module()
class VGG(nn.Module):
    """Plain VGG: per stage ``convs_per_stage[i]`` x (Conv 3x3 padding 1 -> [BN] -> ReLU), then a 2x2 pool.

    Args:
        in_channels: image channels (1 for grey).
        stage_widths: output channels of each stage's convolutions.
        convs_per_stage: convolutions in each stage (same length as ``stage_widths``).
        norm: BatchNorm after each convolution.
        pool: ``'max'`` or ``'avg'`` 2x2 pooling (stride 2) after each stage.
        pool_last: pool after the last stage too (False: the last stage's map is not pooled).
        out: ``'flatten'`` (B x C*H*W), ``'avg'`` (adaptive average to ``avg_size`` x ``avg_size``, flattened:
            B x C*avg_size^2) or ``'map'`` (B x C x H x W).
        avg_size: output side of the adaptive average pool of ``out='avg'`` (1: global average).
    """

    def __init__(
        self,
        in_channels: int = 1,
        stage_widths: Sequence[int] = (16, 32, 64, 128),
        convs_per_stage: Sequence[int] = (2, 2, 2, 2),
        norm: bool = False,
        pool: str = "max",
        pool_last: bool = True,
        out: str = "flatten",
        avg_size: int = 1,
    ) -> None:
        super().__init__()
        widths = [int(w) for w in stage_widths]
        counts = [int(n) for n in convs_per_stage]
        if len(widths) != len(counts) or not widths or min(widths) < 1 or min(counts) < 1:
            raise ConfigError(
                f"VGG: stage_widths={widths} and convs_per_stage={counts} must be positive and of one length"
            )
        if pool not in ("max", "avg") or out not in _OUTS or avg_size < 1:
            raise ConfigError(f"VGG: pool={pool!r} ('max' or 'avg'), out={out!r} (one of {_OUTS}), avg_size={avg_size}")
        layers: list[nn.Module] = []
        cin = int(in_channels)
        for i, (w, n) in enumerate(zip(widths, counts)):
            for _ in range(n):
                layers.append(nn.Conv2d(cin, w, kernel_size=3, padding=1))
                if norm:
                    layers.append(nn.BatchNorm2d(w))
                layers.append(nn.ReLU())
                cin = w
            if i == len(widths) - 1:
                self._cam_index = len(layers) - 1
            if i < len(widths) - 1 or pool_last:
                layers.append(nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2))
        if out == "avg":
            layers += [nn.AdaptiveAvgPool2d(int(avg_size)), nn.Flatten(1)]
        elif out == "flatten":
            layers.append(nn.Flatten(1))
        self.features = nn.Sequential(*layers)
        self.out_channels = cin
        self.num_pools = len(widths) - (0 if pool_last else 1)
        self.out_features = cin * int(avg_size) ** 2 if out == "avg" else None

    @property
    def cam_layer(self) -> nn.Module:
        """The ReLU after the last convolution (the last convolutional feature map)."""
        return self.features[self._cam_index]

    def feature_size(self, input_size: int) -> int:
        """Side of the output map for a square ``input_size`` image (before flattening)."""
        s = int(input_size)
        for _ in range(self.num_pools):
            s //= 2
        return s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a ``B x in_channels x H x W`` batch (see ``out``)."""
        return self.features(x)
