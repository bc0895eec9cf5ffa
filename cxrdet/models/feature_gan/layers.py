"""Feature GAN, shared layer blocks: convolution / deconvolution / fully connected -> BatchNorm -> activation.

Every row of the write-up's tables (``seeds/feature_gan_cxr.txt``) marked "Batch Normalization O" is one of these
blocks: the layer, then BatchNorm, then the activation (LeakyReLU with slope 0.2 by default, Tanh, or none). Used by
the extractor CNN, its head, the generator and the discriminator of :mod:`cxrdet.models.feature_gan`.
"""

from __future__ import annotations

from torch import nn

from cxrdet.errors import ConfigError

LEAKY_SLOPE = 0.2
"""LeakyReLU's negative slope (the write-up names LeakyReLU only; 0.2 is the DCGAN paper's value)."""


def activation(name: str | None, slope: float = LEAKY_SLOPE) -> nn.Module:
    """``'leaky'`` -> LeakyReLU(slope), ``'tanh'`` -> Tanh, None -> Identity."""
    if name == "leaky":
        return nn.LeakyReLU(slope)
    if name == "tanh":
        return nn.Tanh()
    if name is None:
        return nn.Identity()
    raise ConfigError(f"activation {name!r}: expected 'leaky', 'tanh' or None")


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1 (the width multiplier of the shrunk test models)."""
    if width <= 0:
        raise ConfigError(f"width multiplier {width} must be > 0")
    return max(1, round(channels * width))


class ConvBNAct(nn.Sequential):
    """``Conv2d(k, stride, padding) -> BatchNorm2d -> activation`` (bias left out: BatchNorm follows)."""

    def __init__(
        self, cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int | None = None, act: str = "leaky"
    ) -> None:
        pad = kernel // 2 if padding is None else padding
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, bias=False), nn.BatchNorm2d(cout), activation(act)
        )


class DeconvBNAct(nn.Sequential):
    """``ConvTranspose2d(k, stride, padding, output_padding) -> BatchNorm2d -> activation``."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 5,
        stride: int = 1,
        padding: int = 2,
        output_padding: int = 0,
        act: str = "leaky",
    ) -> None:
        super().__init__(
            nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding=output_padding, bias=False),
            nn.BatchNorm2d(cout),
            activation(act),
        )


class LinearBNAct(nn.Sequential):
    """``Linear -> BatchNorm1d -> activation`` (``norm=False``: ``Linear -> activation``, the Linear with bias)."""

    def __init__(self, cin: int, cout: int, act: str | None = "leaky", norm: bool = True) -> None:
        layers: list[nn.Module] = [nn.Linear(cin, cout, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm1d(cout))
        layers.append(activation(act))
        super().__init__(*layers)
