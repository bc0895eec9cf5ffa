"""AlexNet backbone of the fracture classifier, exactly as the seed's final model (``fracture_cnn.txt``).

Conv1 96 (11x11, stride 4, padding 1) -> ReLU -> MaxPool 3/2 -> BatchNorm -> Conv2 256 (5x5, padding 2) -> ReLU
-> MaxPool 3/2 -> BatchNorm -> Conv3 384 -> ReLU -> Conv4 384 -> ReLU -> Conv5 256 (3x3, padding 1) -> ReLU ->
MaxPool 3/2 -> Flatten. For a 1 x 400 x 400 image the map before flattening is 256 x 11 x 11 (30,976 features);
with ``ClsHead(30976, 2, hidden_dims=(4096, 4096), dropout=p)`` the classifier has the seed's 147,395,970
parameters. The write-up's "Norm" layers (local response normalisation in the 2012 paper) are BatchNorm in its
layer table. Used by ``configs/fracture/alexnet-*``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.registry import MODELS


@MODELS.register_module()
class AlexNet(nn.Module):
    """The seed's AlexNet feature extractor (five convolutions, three max-pools, two batch norms).

    Args:
        in_channels: image channels (1 for grey).
        widths: output channels of Conv1..Conv5 (the seed: 96, 256, 384, 384, 256).
        norm: BatchNorm after the first two pools (the seed's Norm1/Norm2); False leaves them out.
        flatten: end with ``Flatten`` (B x C*H*W, as the seed); False returns the last pooled map.
    """

    def __init__(
        self,
        in_channels: int = 1,
        widths: Sequence[int] = (96, 256, 384, 384, 256),
        norm: bool = True,
        flatten: bool = True,
    ) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) != 5 or min(widths) < 1 or in_channels < 1:
            raise ConfigError(f"AlexNet: widths={widths} (5 positive values) and in_channels={in_channels} (>= 1)")
        w1, w2, w3, w4, w5 = widths
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, w1, kernel_size=11, stride=4, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        ]
        if norm:
            layers.append(nn.BatchNorm2d(w1))
        layers += [nn.Conv2d(w1, w2, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2)]
        if norm:
            layers.append(nn.BatchNorm2d(w2))
        layers += [
            nn.Conv2d(w2, w3, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w3, w4, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w4, w5, kernel_size=3, padding=1),
            nn.ReLU(),
        ]
        self._cam_index = len(layers) - 1
        layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
        if flatten:
            layers.append(nn.Flatten(1))
        self.features = nn.Sequential(*layers)
        self.out_channels = w5

    @property
    def cam_layer(self) -> nn.Module:
        """The ReLU after Conv5: its output is the last convolutional feature map (Grad-CAM's target)."""
        return self.features[self._cam_index]

    @staticmethod
    def feature_size(input_size: int) -> int:
        """Side of the last pooled map for a square ``input_size`` image (11 for 400)."""
        s = (input_size + 2 - 11) // 4 + 1
        for _ in range(3):
            s = (s - 3) // 2 + 1
        return s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a ``B x in_channels x H x W`` batch."""
        return self.features(x)
