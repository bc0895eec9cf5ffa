"""Feature GAN step 2, the generator: class-conditioned 100-d noise -> a fake 512 x 10 x 10 row-15 feature.

The write-up's generator table, with the issue's ruling on its "Flatten 1x1x2,048" row::

    condition   z * embed(y): the noise multiplied element-wise by a learned 100-d embedding of the class
    dense2      Linear 100 -> 2,048, reshaped to 2,048 x 1 x 1
    deconv3     ConvTranspose 5x5, stride 1, padding 2 -> 2,048 x 1 x 1, BatchNorm, LeakyReLU
    deconv4     ConvTranspose 5x5, stride 1, padding 0 -> 1,024 x 5 x 5, BatchNorm, LeakyReLU
    deconv5     ConvTranspose 5x5, stride 2, padding 2, output padding 1 -> 512 x 10 x 10, BatchNorm, LeakyReLU
    deconv6     ConvTranspose 5x5, stride 1, padding 2 -> 512 x 10 x 10, BatchNorm, Tanh

Conditioning: each class has its own learned vector (``nn.Embedding(num_classes, noise_dim)``), multiplied into the
noise before the dense layer (the conditional-GAN form of the PyTorch ACGAN examples); the same noise gives a
different feature for each class, and minority-class features are generated on request. The output lies in
[-1, 1] (Tanh): it is a feature in the scaled space of :class:`~cxrdet.models.feature_gan.scaler.FeatureScaler`.
At a 1 x 1 map, ``deconv3`` uses only its kernel's centre tap (as the table's sizes imply). ``width`` multiplies
the channel counts (the tests shrink it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.models.feature_gan.layers import DeconvBNAct, scaled
from cxrdet.registry import MODELS


@MODELS.register_module()
class FeatureGenerator(nn.Module):
    """Noise and class -> a fake feature ``B x feature_channels x 10 x 10`` in [-1, 1].

    Args:
        num_classes: classes it is conditioned on.
        noise_dim: noise length (100).
        feature_channels: channels of the generated feature (512 x the extractor's width).
        hidden_channels: channels of rows 2-3 and 4 (2,048 and 1,024; times ``width``).
        width: multiplier of ``hidden_channels`` (``feature_channels`` is given as is).
    """

    def __init__(
        self,
        num_classes: int = 6,
        noise_dim: int = 100,
        feature_channels: int = 512,
        hidden_channels: Sequence[int] = (2048, 1024),
        width: float = 1.0,
    ) -> None:
        super().__init__()
        hidden = [scaled(int(c), width) for c in hidden_channels]
        if num_classes < 2 or noise_dim < 1 or feature_channels < 1 or len(hidden) != 2:
            raise ConfigError(
                f"FeatureGenerator: num_classes={num_classes} (>= 2), noise_dim={noise_dim}, "
                f"feature_channels={feature_channels}, hidden_channels={list(hidden_channels)} (two values)"
            )
        self.num_classes = int(num_classes)
        self.noise_dim = int(noise_dim)
        self.feature_channels = int(feature_channels)
        self.embed = nn.Embedding(self.num_classes, self.noise_dim)
        self.dense2 = nn.Linear(self.noise_dim, hidden[0])
        self.deconvs = nn.Sequential(
            OrderedDict(
                deconv3=DeconvBNAct(hidden[0], hidden[0], 5, stride=1, padding=2),
                deconv4=DeconvBNAct(hidden[0], hidden[1], 5, stride=1, padding=0),
                deconv5=DeconvBNAct(hidden[1], self.feature_channels, 5, stride=2, padding=2, output_padding=1),
                deconv6=DeconvBNAct(self.feature_channels, self.feature_channels, 5, stride=1, padding=2, act="tanh"),
            )
        )

    def sample_noise(self, n: int, device: torch.device | str = "cpu", generator=None) -> torch.Tensor:
        """``n`` standard normal noise vectors."""
        return torch.randn(n, self.noise_dim, device=device, generator=generator)

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Fake features of ``noise`` (``B x noise_dim``) conditioned on ``labels`` (``B`` class indices)."""
        if noise.dim() != 2 or noise.shape[1] != self.noise_dim or labels.shape != noise.shape[:1]:
            raise ValueError(
                f"FeatureGenerator: noise {tuple(noise.shape)} (B x {self.noise_dim}) and labels "
                f"{tuple(labels.shape)} (B)"
            )
        x = self.dense2(noise * self.embed(labels.long()))
        return self.deconvs(x[:, :, None, None])
