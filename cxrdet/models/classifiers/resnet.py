"""ResNet-style backbone of the fracture classifiers: a conv stem and stages of BasicBlocks (He et al., 2016).

The seed (``fracture_cnn.txt``) names only the conv-layer counts (25: the stem + 12 blocks x 2; 15: the stem
+ 7 blocks x 2; 1x1 projection shortcuts not counted, as in the ResNet paper's layer names) and the parameter
counts (3,152,370 and 213,234 for 2 classes); ``configs/fracture/resnet*`` state the design. The output is the
global average of the last map, ``B x stage_widths[-1]``, for :class:`~cxrdet.models.classifiers.ClsHead`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.registry import MODELS


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN projection) shortcut, ReLU after the sum.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the first convolution (and of the projection).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``."""
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + self.shortcut(x))


@MODELS.register_module()
class ResNet(nn.Module):
    """Stem (conv k x k -> BN -> ReLU [-> max-pool 3/2]) -> stages of BasicBlocks -> global average pool.

    Args:
        in_channels: image channels (1 for grey).
        stem_channels: output channels of the stem convolution.
        stem_kernel: stem kernel size (padding ``k // 2``).
        stem_stride: stem stride.
        stem_pool: a 3x3 stride-2 max-pool after the stem.
        stage_widths: channels of each stage.
        blocks_per_stage: BasicBlocks in each stage.
        strides: stride of each stage's first block (default: 1 for the first stage, 2 after).
    """

    def __init__(
        self,
        in_channels: int = 1,
        stem_channels: int = 64,
        stem_kernel: int = 7,
        stem_stride: int = 2,
        stem_pool: bool = True,
        stage_widths: Sequence[int] = (64, 128, 256, 512),
        blocks_per_stage: Sequence[int] = (2, 2, 2, 2),
        strides: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        widths = [int(w) for w in stage_widths]
        counts = [int(n) for n in blocks_per_stage]
        strides = [1] + [2] * (len(widths) - 1) if strides is None else [int(s) for s in strides]
        if not widths or len(counts) != len(widths) or len(strides) != len(widths) or min(counts) < 1:
            raise ConfigError(
                f"ResNet: stage_widths={widths}, blocks_per_stage={counts}, strides={strides}: one positive "
                "entry per stage"
            )
        stem: list[nn.Module] = [
            nn.Conv2d(
                in_channels, stem_channels, stem_kernel, stride=stem_stride, padding=stem_kernel // 2, bias=False
            ),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(),
        ]
        if stem_pool:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        stages = []
        cin = int(stem_channels)
        for w, n, s in zip(widths, counts, strides):
            blocks = [BasicBlock(cin, w, s)] + [BasicBlock(w, w) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.out_channels = cin

    @property
    def num_convs(self) -> int:
        """3x3/kxk convolutions on the main path (the stem + two per block; projections not counted)."""
        return 1 + 2 * sum(len(stage) for stage in self.stages)

    @property
    def cam_layer(self) -> nn.Module:
        """The last BasicBlock: its output is the last convolutional feature map."""
        return self.stages[-1][-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``B x stage_widths[-1]``."""
        return self.pool(self.stages(self.stem(x)))
