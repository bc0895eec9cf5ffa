"""EfficientDet building block: BiFPN's fast normalised fusion of same-shaped feature maps.

``out = sum_i w_i x_i`` with ``w_i = relu(v_i) / (sum_j relu(v_j) + eps)``: learnable, non-negative
weights that sum to (almost) one, cheaper than a softmax (Tan et al., EfficientDet, section 3.3).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cxrdet.errors import ConfigError


class FastNormalizedFusion(nn.Module):
    """Weighted sum of ``num_inputs`` tensors with fast normalised weights.

    Args:
        num_inputs: how many maps are fused (2 or 3 in a BiFPN).
        eps: the ``1e-4`` that keeps the division stable.
    """

    def __init__(self, num_inputs: int, eps: float = 1e-4) -> None:
        super().__init__()
        if num_inputs < 1:
            raise ConfigError(f"fusion num_inputs={num_inputs}: expected at least 1")
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(num_inputs))

    def normalized_weights(self) -> torch.Tensor:
        """``relu(v) / (sum relu(v) + eps)``, one value per input."""
        w = torch.relu(self.weight)
        return w / (w.sum() + self.eps)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Fuses ``inputs`` (all the same shape)."""
        if len(inputs) != self.weight.numel():
            raise ValueError(f"{len(inputs)} inputs for a fusion of {self.weight.numel()}")
        w = self.normalized_weights()
        out = w[0] * inputs[0]
        for i in range(1, len(inputs)):
            out = out + w[i] * inputs[i]
        return out
