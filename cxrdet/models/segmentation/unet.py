"""The U-Net family of the gastric segmentation (CA-U-Net, DOMAIN.md section 5): one network, two switches.

U-Net (Ronneberger et al., 2015) with batch-normalised stages: an encoder of ``depth`` stages
(:class:`~cxrdet.models.segmentation.blocks.DoubleConv` of ``base_channels * 2**i`` channels, 2x2 max-pool between),
a bottleneck stage of ``base_channels * 2**depth`` channels, and a decoder that upsamples (2x2 transposed conv
halving the channels), concatenates the encoder's skip feature of that scale and runs a ``DoubleConv``; a 1x1 conv
gives the class logits at the input's size (any size: an odd size is met by resizing the upsampled map to the skip's).

The switches make the four ablation models of the write-up:

- ``cbam=True``: a CBAM (:class:`cxrdet.models.blocks.cbam.CBAM`: channel gate then spatial gate, reduction 16, 7x7
  spatial conv) after every encoder stage, so the attended feature is what both the skip connection and the next
  (deeper) stage receive;
- ``aspp=True``: an :class:`~cxrdet.models.segmentation.blocks.ASPP` (1x1 + atrous 3x3 at rates 6/12/18 + image
  pooling) after the bottleneck stage, its branches a quarter of the bottleneck's channels (256 at full size, as
  DeepLab's), projected back to the bottleneck's channels.

plain U-Net (both off), U-Net + CBAM, U-Net + ASPP, CA-U-Net (both on). ``cam_layer`` (Grad-CAM in
``cxrdet explain``) is the bottleneck's last module: the ASPP when there is one, else the bottleneck stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cxrdet.models.blocks.cbam import CBAM
from cxrdet.models.segmentation.blocks import ASPP, DoubleConv


class UNet(nn.Module):
    """U-Net with optional CBAM in the encoder and ASPP at the bottleneck; outputs class logits.

    Args:
        in_channels: input image channels (3: RGB endoscopy).
        num_classes: output classes (2: background, lesion).
        base_channels: channels of the first stage (64 in U-Net; doubled per stage).
        depth: number of 2x downsamplings (4 in U-Net: an input side divisible by 16 keeps every map exact).
        cbam: a CBAM after every encoder stage.
        aspp: an ASPP after the bottleneck stage.
        aspp_rates: the ASPP's atrous rates.
        aspp_channels: channels of each ASPP branch (None: a quarter of the bottleneck's, at least 1).
        cbam_reduction: the CBAM channel gate's reduction ratio.
        norm: ``'BN'`` (batch norm) or ``'GN'`` (group norm) in every stage and the ASPP.

    Raises:
        ValueError: a non-positive channel count or depth.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        base_channels: int = 64,
        depth: int = 4,
        cbam: bool = False,
        aspp: bool = False,
        aspp_rates: Sequence[int] = (6, 12, 18),
        aspp_channels: int | None = None,
        cbam_reduction: int = 16,
        norm: str = "BN",
    ) -> None:
        super().__init__()
        if min(in_channels, num_classes, base_channels, depth) < 1:
            raise ValueError(
                f"UNet: in_channels={in_channels}, num_classes={num_classes}, base_channels={base_channels} and "
                f"depth={depth} must be positive"
            )
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.widths = tuple(widths)
        self.num_classes = int(num_classes)
        self.encoder = nn.ModuleList(
            [DoubleConv(in_channels if i == 0 else widths[i - 1], widths[i], norm) for i in range(depth)]
        )
        self.attention = nn.ModuleList([CBAM(w, reduction=cbam_reduction) for w in widths[:depth]]) if cbam else None
        self.bottleneck = DoubleConv(widths[depth - 1], widths[depth], norm)
        branch = int(aspp_channels or max(1, widths[depth] // 4))
        self.aspp = ASPP(widths[depth], widths[depth], aspp_rates, norm, branch_channels=branch) if aspp else None
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth))]
        )
        self.decoder = nn.ModuleList([DoubleConv(2 * widths[i], widths[i], norm) for i in reversed(range(depth))])
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    @property
    def cam_layer(self) -> nn.Module:
        """The bottleneck's last module (the ASPP, else the bottleneck stage)."""
        return self.aspp if self.aspp is not None else self.bottleneck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x in_channels x H x W`` -> logits ``B x num_classes x H x W``.

        Raises:
            ValueError: a side shorter than ``2**depth`` (the bottleneck would have no pixel).
        """
        if min(x.shape[-2:]) < 2 ** len(self.encoder):
            raise ValueError(f"UNet of depth {len(self.encoder)}: input {tuple(x.shape[-2:])} is smaller than 2**depth")
        skips = []
        for i, stage in enumerate(self.encoder):
            x = stage(x)
            if self.attention is not None:
                x = self.attention[i](x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        if self.aspp is not None:
            x = self.aspp(x)
        for up, stage, skip in zip(self.up, self.decoder, reversed(skips)):
            x = up(x)
            if x.shape[-2:] != skip.shape[-2:]:  # an odd size lost a row/column in the pooling
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = stage(torch.cat([skip, x], dim=1))
        return self.head(x)
