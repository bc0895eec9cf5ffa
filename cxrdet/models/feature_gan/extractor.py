"""Feature GAN step 1: the extractor CNN of the write-up (``seeds/feature_gan_cxr.txt``), a registered backbone.

Rows 2-19 of the write-up's extractor table, each convolution 3x3 (padding 1) -> BatchNorm -> LeakyReLU, each
pool 2x2 max (stride 2); for a 3 x 160 x 160 image::

    trunk (rows 2-15):  conv2 64, conv3 64, pool4 -> 80; conv5 128, conv6 128, pool7 -> 40;
                        conv8 128, conv9 128, conv10 256, pool11 -> 20; conv12 256, conv13 256, conv14 512,
                        pool15 -> the 512 x 10 x 10 feature the GAN works on
    top (rows 16-19):   conv16 512, conv17 512, conv18 512, pool19 -> 512 x 5 x 5
    flatten20:          12,800 features, for :class:`~cxrdet.models.feature_gan.head.FeatureGanHead` (rows 21-23)

Step 1 trains it as ``ImageClassifier(backbone=GanFeatureExtractor, head=FeatureGanHead)`` (the ordinary
classifier path, ``configs/feature_gan/extractor_*``); step 2 (:class:`~cxrdet.models.feature_gan.FeatureGAN`)
keeps ``trunk`` frozen as the source of real features and copies ``top`` + the head into its classifier (with an
average pool at row 19). ``width`` multiplies every channel count (1: the write-up; the tests shrink it).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.models.feature_gan.layers import ConvBNAct, scaled
from cxrdet.registry import MODELS

TRUNK_PLAN = (
    ("conv2", 64),
    ("conv3", 64),
    ("pool4", None),
    ("conv5", 128),
    ("conv6", 128),
    ("pool7", None),
    ("conv8", 128),
    ("conv9", 128),
    ("conv10", 256),
    ("pool11", None),
    ("conv12", 256),
    ("conv13", 256),
    ("conv14", 512),
    ("pool15", None),
)
"""Rows 2-15 of the extractor table: (name, output channels; None for a 2x2 max pool)."""
TOP_CONVS = (("conv16", 512), ("conv17", 512), ("conv18", 512))
"""Rows 16-18 (row 19 is the pool: max in the extractor, average in step 2's classifier)."""
FEATURE_CHANNELS = 512
"""Channels of the row-15 feature the GAN generates (times ``width``)."""
DOWNSAMPLING = 32
"""Five 2x2 pools: the image side over the final map's side (160 -> 5)."""


def make_top(channels: int, width: float, pool: str = "max") -> nn.Sequential:
    """Rows 16-19: three 3x3 conv-BN-LeakyReLU blocks of ``512 * width`` channels and a 2x2 pool.

    Args:
        channels: input channels (the row-15 feature's).
        width: the channel multiplier.
        pool: ``'max'`` (the extractor, row 19) or ``'avg'`` (step 2's classifier, row 5 of its table).
    """
    if pool not in ("max", "avg"):
        raise ConfigError(f"pool={pool!r}: expected 'max' or 'avg'")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    cin = channels
    for name, c in TOP_CONVS:
        layers[name] = ConvBNAct(cin, scaled(c, width))
        cin = scaled(c, width)
    layers["pool19"] = nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)
    return nn.Sequential(layers)


@MODELS.register_module()
class GanFeatureExtractor(nn.Module):
    """The write-up's extractor CNN without its fully connected layers: image -> flattened row-19 map.

    Args:
        in_channels: image channels (3: the write-up's 160 x 160 x 3 input; CheXpert's grey images repeated).
        width: multiplier of every channel count (1: the write-up's table).
        input_size: the square input side (160); ``out_features`` is computed from it.
    """

    def __init__(self, in_channels: int = 3, width: float = 1.0, input_size: int = 160) -> None:
        super().__init__()
        if in_channels < 1 or input_size < DOWNSAMPLING or input_size % DOWNSAMPLING:
            raise ConfigError(
                f"GanFeatureExtractor: in_channels={in_channels} (>= 1), input_size={input_size} (a multiple of "
                f"{DOWNSAMPLING}: five 2x2 pools)"
            )
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        cin = int(in_channels)
        for name, c in TRUNK_PLAN:
            if c is None:
                layers[name] = nn.MaxPool2d(2)
            else:
                layers[name] = ConvBNAct(cin, scaled(c, width))
                cin = scaled(c, width)
        self.trunk = nn.Sequential(layers)
        self.top = make_top(cin, width, "max")
        self.flatten20 = nn.Flatten(1)
        self.width = float(width)
        self.input_size = int(input_size)
        self.feature_channels = cin
        self.feature_size = self.input_size // 16
        self.out_channels = scaled(TOP_CONVS[-1][1], width)
        self.out_features = self.out_channels * (self.input_size // DOWNSAMPLING) ** 2

    @property
    def cam_layer(self) -> nn.Module:
        """Row 18 (the last convolution's block): the last convolutional feature map, Grad-CAM's target."""
        return self.top.conv18

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The row-15 feature ``B x 512w x H/16 x W/16`` (10 x 10 at 160 px): what the GAN generates."""
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Flattened row-19 features ``B x out_features`` (12,800 at 160 px, width 1)."""
        return self.flatten20(self.top(self.trunk(x)))
