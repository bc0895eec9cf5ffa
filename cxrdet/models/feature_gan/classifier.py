"""Feature GAN step 2, the classifier: a row-15 feature -> class logits (the extractor's rows 16-23).

The write-up's classifier table: rows 16-18 of the extractor (three 3x3 conv-BN-LeakyReLU of 512 channels), its own
2x2 AVERAGE pool where the extractor has a max pool (row 19; the issue's ruling: each table as written), flatten
(12,800) and the fully connected rows 21-23 (:class:`~cxrdet.models.feature_gan.head.FeatureGanHead`). Pools have
no weights, so every weight comes from step 1 (:func:`~cxrdet.models.feature_gan.step1_weights.load_step1_weights`).
"""

from __future__ import annotations

import torch
from torch import nn

from cxrdet.models.feature_gan.extractor import make_top
from cxrdet.models.feature_gan.head import FeatureGanHead


class FeatureClassifier(nn.Module):
    """``B x C x 10 x 10`` features -> ``B x num_classes`` logits.

    Args:
        feature_channels: the feature's channels (512 x width).
        width: the extractor's channel multiplier.
        head: the fully connected rows (built like step 1's head).
        pool: row 19's pool, ``'avg'`` (the write-up's classifier) or ``'max'`` (step 1's).
    """

    def __init__(self, feature_channels: int, width: float, head: FeatureGanHead, pool: str = "avg") -> None:
        super().__init__()
        self.top = make_top(int(feature_channels), float(width), pool)
        self.flatten20 = nn.Flatten(1)
        self.head = head
        self.num_classes = head.num_classes

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits of row-15 features (the extractor's space, not the scaled one)."""
        return self.head(self.flatten20(self.top(features)))
