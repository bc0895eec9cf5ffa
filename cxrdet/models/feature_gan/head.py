"""Feature GAN, the extractor's fully connected rows 21-23 (and step 2's classifier's rows 7-9), a registered head.

``fc21``: Linear 4,096 -> BatchNorm -> LeakyReLU; ``fc22``: Linear 512 -> BatchNorm -> LeakyReLU; ``fc23``: Linear
``num_classes`` -> BatchNorm (the table marks BatchNorm on every row, the softmax row too; ``out_norm=False`` drops
that one). The softmax is the classifier's (:class:`~cxrdet.models.classifiers.ImageClassifier` applies it to
these logits). Hidden widths scale with the extractor's ``width`` in the shrunk test models.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.models.feature_gan.layers import LinearBNAct
from cxrdet.registry import MODELS


@MODELS.register_module()
class FeatureGanHead(nn.Module):
    """Flattened features -> ``num_classes`` logits through the table's two hidden layers.

    Args:
        in_features: features per image (12,800: 512 x 5 x 5).
        num_classes: output classes (6 in the write-up).
        hidden_dims: widths of rows 21 and 22 (4,096 and 512).
        out_norm: BatchNorm on the logits (the table's row 23).
    """

    def __init__(
        self,
        in_features: int = 12800,
        num_classes: int = 6,
        hidden_dims: Sequence[int] = (4096, 512),
        out_norm: bool = True,
    ) -> None:
        super().__init__()
        dims = [int(h) for h in hidden_dims]
        if in_features < 1 or num_classes < 2 or len(dims) != 2 or min(dims) < 1:
            raise ConfigError(
                f"FeatureGanHead: in_features={in_features}, num_classes={num_classes} (>= 2), "
                f"hidden_dims={dims} (two positive widths)"
            )
        self.in_features = int(in_features)
        self.num_classes = int(num_classes)
        self.layers = nn.Sequential(
            OrderedDict(
                fc21=LinearBNAct(self.in_features, dims[0]),
                fc22=LinearBNAct(dims[0], dims[1]),
                fc23=LinearBNAct(dims[1], self.num_classes, act=None, norm=bool(out_norm)),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``B x num_classes`` of ``B x in_features`` features (a map is flattened first)."""
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ConfigError(
                f"FeatureGanHead: got {x.shape[1]} features per image, in_features is {self.in_features} "
                "(set head.in_features to the extractor's out_features: 512 x (input_size / 32)^2 x width)"
            )
        return self.layers(x)
