"""Bone-age classes of TJ-Net: 77 bins of 3 months (0-231 months), owned here and used by model and metrics.

Class ``k`` covers ``[3k, 3k + 3)`` months, its centre is ``3k + 1.5``. An age is clipped into ``[0, 231)``
before binning (so 231 months and above fall in class 76, negative ages in class 0). The predicted age of a
class distribution is its expectation over the class centres (:func:`expected_age`).
"""

from __future__ import annotations

import math

import torch

NUM_AGE_CLASSES = 77
BIN_MONTHS = 3
MAX_MONTHS = NUM_AGE_CLASSES * BIN_MONTHS  # 231: the end of the last class


def age_to_class(months: float | torch.Tensor) -> int | torch.Tensor:
    """The class index of an age in months (a number -> int, a tensor -> long tensor of the same shape).

    Raises:
        ValueError: on a NaN or infinite age (an unknown age has no class).
    """
    if isinstance(months, torch.Tensor):
        if not torch.isfinite(months).all():
            raise ValueError(f"age_to_class: non-finite age in months: {months.tolist()}")
        return torch.clamp(torch.floor(months.double() / BIN_MONTHS), 0, NUM_AGE_CLASSES - 1).long()
    value = float(months)
    if not math.isfinite(value):
        raise ValueError(f"age_to_class: non-finite age in months: {months}")
    return min(max(math.floor(value / BIN_MONTHS), 0), NUM_AGE_CLASSES - 1)


def class_centres() -> torch.Tensor:
    """The 77 class centres in months (``3k + 1.5``), float32."""
    return torch.arange(NUM_AGE_CLASSES, dtype=torch.float32) * BIN_MONTHS + BIN_MONTHS / 2


def expected_age(probs: torch.Tensor) -> torch.Tensor:
    """The expected age in months of class probabilities ``[..., 77]`` (sum of ``p_k * centre_k``)."""
    if probs.shape[-1] != NUM_AGE_CLASSES:
        raise ValueError(f"expected_age: last dimension {probs.shape[-1]}, expected {NUM_AGE_CLASSES}")
    return probs @ class_centres().to(device=probs.device, dtype=probs.dtype)
