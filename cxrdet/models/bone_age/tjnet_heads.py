"""TJ-Net's heads: block 5 (multi-scale fusion -> dense layers -> sex logit) and block 6 (features + sex -> age).

Fusion: global average pooling of blocks 2, 3 and 4 (by default) concatenated into one vector (128 + 256 + 512
= 896 wide at width 1); it feeds both heads. Block 5 (:class:`SexHead`): ``Linear -> ReLU -> Dropout ->
Linear(1)``, the sex logit (the joint task). Block 6 (:class:`AgeHead`): the image vector through
``Linear -> ReLU``, the sex value (one number in [0, 1]: the label, or block 5's probability) through its own
small dense layer (the write-up's "sex weight matrix"), concatenated, ``Linear -> ReLU -> Dropout ->
Linear(77)``: the age-class logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cxrdet.models.bone_age.age_bins import NUM_AGE_CLASSES


class MultiScaleFusion(nn.Module):
    """Global average pooling of the chosen feature maps, concatenated (no parameters).

    Args:
        indices: which of the backbone's outputs (0-based: 1, 2, 3 = blocks 2-4) are fused.
    """

    def __init__(self, indices: Sequence[int] = (1, 2, 3)) -> None:
        super().__init__()
        self.indices = tuple(int(i) for i in indices)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """``B x sum(C_i)``."""
        return torch.cat([features[i].mean(dim=(2, 3)) for i in self.indices], dim=1)


class SexHead(nn.Module):
    """Block 5's dense layers: fused features -> sex logit (``B x 1``).

    Args:
        in_features: width of the fused vector.
        hidden: the dense layer's width.
        dropout: dropout rate before the output layer.
    """

    def __init__(self, in_features: int, hidden: int = 256, dropout: float = 0.3) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The sex logit (male), ``B x 1``."""
        return self.mlp(features)


class AgeHead(nn.Module):
    """Block 6: fused features + sex -> 77 age-class logits.

    Args:
        in_features: width of the fused vector.
        hidden: the dense layers' width.
        sex_features: width of the sex input's dense layer.
        dropout: dropout rate before the output layer.
        num_classes: age classes (77 of 3 months).
    """

    def __init__(
        self,
        in_features: int,
        hidden: int = 256,
        sex_features: int = 32,
        dropout: float = 0.3,
        num_classes: int = NUM_AGE_CLASSES,
    ) -> None:
        super().__init__()
        self.image_fc = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True))
        self.sex_fc = nn.Sequential(nn.Linear(1, sex_features), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(
            nn.Linear(hidden + sex_features, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, features: torch.Tensor, sex: torch.Tensor) -> torch.Tensor:
        """Logits ``B x 77`` from ``features`` (``B x F``) and ``sex`` (``B``, 1 male, 0 female)."""
        sex = sex.to(features.dtype).reshape(-1, 1)
        return self.classifier(torch.cat([self.image_fc(features), self.sex_fc(sex)], dim=1))
