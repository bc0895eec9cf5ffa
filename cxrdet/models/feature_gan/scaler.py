"""Feature GAN step 2: per-channel scaling of the extractor's real features to [-1, 1], the generator's range.

Real row-15 features come out of BatchNorm + LeakyReLU + max-pool unbounded, while the generator ends in Tanh. The
scaler holds, per channel, the minimum and maximum over step 1's training set (computed once, before step 2's
training, by :class:`~cxrdet.models.feature_gan.stats_hook.FeatureStatsHook`; stored as buffers, so they travel in
every checkpoint): ``scale(x) = 2 (x - min) / (max - min) - 1`` maps every training feature into [-1, 1] (other
images' features may fall slightly outside), and ``unscale`` is its exact inverse, applied to generated features
before the classifier, which works in the extractor's own feature space.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-6


class FeatureScaler(nn.Module):
    """Per-channel min-max scaling of ``B x C x H x W`` features to [-1, 1] and back.

    Args:
        channels: the features' channel count.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = int(channels)
        self.register_buffer("low", torch.full((self.channels,), float("inf")))
        self.register_buffer("high", torch.full((self.channels,), float("-inf")))
        self.register_buffer("ready", torch.tensor(False))

    def reset(self) -> None:
        """Forget the statistics (before computing them again)."""
        self.low.fill_(float("inf"))
        self.high.fill_(float("-inf"))
        self.ready.fill_(False)

    @torch.no_grad()
    def observe(self, features: torch.Tensor) -> None:
        """Widen the per-channel range by a batch of real features."""
        flat = features.detach().transpose(0, 1).reshape(self.channels, -1).to(self.low)
        self.low.copy_(torch.minimum(self.low, flat.min(1).values))
        self.high.copy_(torch.maximum(self.high, flat.max(1).values))

    def finish(self) -> None:
        """Mark the statistics complete (a channel never observed is an error)."""
        if not torch.isfinite(self.low).all() or not torch.isfinite(self.high).all():
            raise RuntimeError("FeatureScaler.finish: no features observed")
        self.ready.fill_(True)

    def _check(self) -> None:
        if not bool(self.ready):
            raise RuntimeError(
                "FeatureScaler: the per-channel statistics of step 1's training set are not computed (train with "
                "custom_hooks=[dict(type='FeatureStatsHook')], or load a step-2 checkpoint)"
            )

    def _range(self) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.low[None, :, None, None]
        span = (self.high - self.low).clamp_min(EPS)[None, :, None, None]
        return low, span

    def scale(self, features: torch.Tensor) -> torch.Tensor:
        """Real features -> [-1, 1] per channel."""
        self._check()
        low, span = self._range()
        return 2.0 * (features - low) / span - 1.0

    def unscale(self, scaled: torch.Tensor) -> torch.Tensor:
        """[-1, 1] features (the generator's) -> the extractor's feature space."""
        self._check()
        low, span = self._range()
        return (scaled + 1.0) * 0.5 * span + low
