"""TJ-Net's feature extractor (blocks 1-4): conv/pool stages with 3 CBAMs, IncRes1 twice and IncRes2 once.

The write-up (Tang, Wu and Shen 2020; ``seeds/tjnet_bone_age.txt``) gives the block structure only as a figure;
this design (channel widths at ``width=1``; ``H x W`` the input size, 512 in the full recipe)::

    block1  ConvBNReLU 3x3/2 (in->32), ConvBNReLU 3x3 (32->64), maxpool 3x3/2, CBAM(64)     -> 64  x H/4
    block2  ConvBNReLU 3x3 (64->128), maxpool 3x3/2, IncRes1(128), CBAM(128)                -> 128 x H/8
    block3  ConvBNReLU 3x3/2 (128->256), IncRes1(256), CBAM(256)                            -> 256 x H/16
    block4  ConvBNReLU 3x3/2 (256->512), IncRes2(512), ConvBNReLU 1x1 (512->512)            -> 512 x H/32

Three CBAMs, one at the end of each of blocks 1-3 (attention on the fine and middle scales where the growth
plates are; the TJ-Net figure shows them after the early conv stages); IncRes1 (1x1/3x3 mixes) in blocks 2-3,
IncRes2 (1x3/3x1 factorised kernels, cheaper at 512 channels) in block 4. Block 4 ends in a plain conv unit whose
output is the last conv feature map (Grad-CAM's layer, ``cam_layer``). ``width`` multiplies every width (rounded
to a multiple of 8, at least 8) so tiny CPU variants exist; ``use_cbam=False`` replaces the CBAMs by identities
(the ablation). The forward returns the four block outputs (finest first) for block 5's multi-scale fusion.
"""

from __future__ import annotations

import torch
from torch import nn

from cxrdet.models.blocks import CBAM, ConvBNReLU, IncRes1, IncRes2
from cxrdet.registry import MODELS

BASE_WIDTHS = (32, 64, 128, 256, 512)  # stem conv, block1..block4 at width 1


def scaled_width(channels: int, width: float) -> int:
    """``channels * width`` rounded to a multiple of 8, at least 8."""
    return max(8, round(channels * width / 8.0) * 8)


@MODELS.register_module()
class TJNetBackbone(nn.Module):
    """Blocks 1-4 of TJ-Net.

    Args:
        in_channels: image channels (1 for grey radiographs).
        width: channel multiplier (1.0 the full model; 0.25 a tiny CPU variant).
        use_cbam: the three CBAMs (False: identities, the no-CBAM ablation).
        cbam_reduction: the CBAM channel gate's reduction ratio (floor of 8 hidden units).
        incres_scale: the IncRes residual scale.
    """

    def __init__(
        self,
        in_channels: int = 1,
        width: float = 1.0,
        use_cbam: bool = True,
        cbam_reduction: int = 16,
        incres_scale: float = 0.2,
    ) -> None:
        super().__init__()
        if width <= 0 or in_channels < 1:
            raise ValueError(f"TJNetBackbone: width={width} must be > 0, in_channels={in_channels} >= 1")
        stem, c1, c2, c3, c4 = (scaled_width(c, width) for c in BASE_WIDTHS)
        self.out_channels = (c1, c2, c3, c4)
        self.use_cbam = bool(use_cbam)

        def attention(c: int) -> nn.Module:
            return CBAM(c, reduction=cbam_reduction) if use_cbam else nn.Identity()

        self.block1 = nn.Sequential(
            ConvBNReLU(in_channels, stem, 3, stride=2),
            ConvBNReLU(stem, c1, 3),
            nn.MaxPool2d(3, stride=2, padding=1),
            attention(c1),
        )
        self.block2 = nn.Sequential(
            ConvBNReLU(c1, c2, 3),
            nn.MaxPool2d(3, stride=2, padding=1),
            IncRes1(c2, scale=incres_scale),
            attention(c2),
        )
        self.block3 = nn.Sequential(
            ConvBNReLU(c2, c3, 3, stride=2),
            IncRes1(c3, scale=incres_scale),
            attention(c3),
        )
        self.block4 = nn.Sequential(
            ConvBNReLU(c3, c4, 3, stride=2),
            IncRes2(c4, scale=incres_scale),
            ConvBNReLU(c4, c4, 1),
        )

    @property
    def blocks(self) -> tuple[nn.Sequential, ...]:
        """``(block1, block2, block3, block4)``."""
        return (self.block1, self.block2, self.block3, self.block4)

    @property
    def cam_layer(self) -> nn.Module:
        """Block 4's last conv unit: its output is the last conv feature map."""
        return self.block4[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The four block outputs of ``x`` (``B x C x H x W``), finest first."""
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return tuple(outs)
