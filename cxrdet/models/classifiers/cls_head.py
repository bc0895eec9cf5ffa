"""Classification head of cxrdet's image classifiers: (flatten) -> [dropout -> Linear -> ReLU] x N -> Linear.

Sits at the end of :class:`cxrdet.models.classifiers.ImageClassifier` (backbone -> optional neck -> this head)
and returns the logits the classifier turns into a cross-entropy loss or softmax scores. The fracture AlexNet's
head (seed ``fracture_cnn.txt``: Dropout -> FC 4096 -> ReLU -> Dropout -> FC 4096 -> ReLU -> FC 2) is
``ClsHead(30976, 2, hidden_dims=(4096, 4096), dropout=0.8)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.registry import MODELS


@MODELS.register_module()
class ClsHead(nn.Module):
    """A stack of fully connected layers ending in ``num_classes`` logits.

    Each hidden layer is ``Dropout(p) -> Linear -> ReLU`` (the Dropout is left out where ``p == 0``); the output
    layer is ``[Dropout(final_dropout)] -> Linear(num_classes)``, without activation.

    Args:
        in_features: features per image that the backbone (or neck) gives, after flattening.
        num_classes: number of output logits.
        hidden_dims: widths of the hidden layers, in order (empty: one Linear layer).
        dropout: drop probability before each hidden layer: one value for all, or one per hidden layer.
        final_dropout: drop probability before the output layer (0: none).
        flatten: flatten a B x C x H x W input to B x (C*H*W) first (for backbones that end with a map).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int = 2,
        hidden_dims: Sequence[int] = (),
        dropout: float | Sequence[float] = 0.0,
        final_dropout: float = 0.0,
        flatten: bool = False,
    ) -> None:
        super().__init__()
        hidden_dims = [int(h) for h in hidden_dims]
        rates = (
            [float(dropout)] * len(hidden_dims) if isinstance(dropout, (int, float)) else [float(p) for p in dropout]
        )
        if len(rates) != len(hidden_dims):
            raise ConfigError(f"ClsHead: {len(rates)} dropout rates for {len(hidden_dims)} hidden layers")
        if in_features < 1 or num_classes < 1 or any(h < 1 for h in hidden_dims):
            raise ConfigError(
                f"ClsHead: in_features={in_features}, num_classes={num_classes}, hidden_dims={hidden_dims}: "
                "all must be positive"
            )
        for p in [*rates, float(final_dropout)]:
            if not 0.0 <= p < 1.0:
                raise ConfigError(f"ClsHead: dropout rate {p} outside [0, 1)")
        self.in_features = int(in_features)
        self.num_classes = int(num_classes)
        self.dropout_rates = tuple(rates)
        layers: list[nn.Module] = [nn.Flatten(1)] if flatten else []
        width = self.in_features
        for h, p in zip(hidden_dims, rates):
            if p > 0:
                layers.append(nn.Dropout(p))
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        if final_dropout > 0:
            layers.append(nn.Dropout(float(final_dropout)))
        layers.append(nn.Linear(width, self.num_classes))
        self.layers = nn.Sequential(*layers)
        self._flatten = bool(flatten)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``B x num_classes`` of features ``x`` (``B x in_features``, or a map when ``flatten``)."""
        got = x[0].numel() if self._flatten else (x.shape[-1] if x.dim() == 2 else None)
        if got != self.in_features:
            raise ConfigError(
                f"ClsHead: the backbone gives features of shape {tuple(x.shape[1:])} per image but the head's "
                f"in_features is {self.in_features}; set head.in_features for this backbone and input size"
                + ("" if self._flatten or x.dim() == 2 else " (or flatten=True for a feature map)")
            )
        return self.layers(x)
