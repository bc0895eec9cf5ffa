"""Feature GAN step 2, the discriminator: a (scaled) 512 x 10 x 10 feature -> real or fake, given its class.

The write-up's discriminator table, with the issue's ruling that its first fully connected row outputs 1,024::

    conv2       Conv 5x5, stride 1, padding 2 -> 512 x 10 x 10, BatchNorm, LeakyReLU
    conv3       Conv 5x5, stride 2, padding 2 -> 1,024 x 5 x 5, BatchNorm, LeakyReLU
    conv4       Conv 5x5, stride 2, padding 1 -> 2,048 x 2 x 2, BatchNorm, LeakyReLU
    flatten5    8,192
    fc6         Linear 1,024, BatchNorm, LeakyReLU
    fc7         Linear 64, BatchNorm, LeakyReLU
    fc8         Linear 1 (+ the class projection below), sigmoid in :meth:`probability`

The last row has no BatchNorm although the table marks one: BatchNorm on the single logit would re-centre each
batch's scores, so an all-real or all-fake batch could not be told apart. Conditioning (``num_classes > 0``): a
projection discriminator (Miyato & Koyama, 2018): the logit gains ``<embed(y), h>`` with ``h`` the 64-d ``fc7``
output and ``embed`` a learned vector per class, so D judges "a real feature OF CLASS y", and the generator must
produce class-typical features (the classifier's loss on the fakes adds the auxiliary-classifier signal).
``num_classes=0`` is the unconditioned table as written. ``forward`` returns logits (BCE with logits trains it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.models.feature_gan.layers import ConvBNAct, LinearBNAct, scaled
from cxrdet.registry import MODELS


@MODELS.register_module()
class FeatureDiscriminator(nn.Module):
    """Real/fake logit of a ``B x in_channels x 10 x 10`` feature (conditioned on its class when ``num_classes``).

    Args:
        in_channels: the feature's channels (512 x the extractor's width).
        num_classes: classes of the projection conditioning (0: unconditioned).
        channels: conv rows 2-4 (512, 1,024, 2,048; times ``width``).
        fc_dims: fully connected rows 6-7 (1,024, 64; times ``width``).
        feature_size: the input's side (10).
        width: multiplier of ``channels`` and ``fc_dims``.
    """

    def __init__(
        self,
        in_channels: int = 512,
        num_classes: int = 6,
        channels: Sequence[int] = (512, 1024, 2048),
        fc_dims: Sequence[int] = (1024, 64),
        feature_size: int = 10,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        chans = [scaled(int(c), width) for c in channels]
        dims = [scaled(int(d), width) for d in fc_dims]
        if in_channels < 1 or num_classes < 0 or len(chans) != 3 or len(dims) != 2 or feature_size < 4:
            raise ConfigError(
                f"FeatureDiscriminator: in_channels={in_channels}, num_classes={num_classes} (>= 0), "
                f"channels={list(channels)} (three), fc_dims={list(fc_dims)} (two), feature_size={feature_size}"
            )
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.convs = nn.Sequential(
            OrderedDict(
                conv2=ConvBNAct(self.in_channels, chans[0], 5, stride=1, padding=2),
                conv3=ConvBNAct(chans[0], chans[1], 5, stride=2, padding=2),
                conv4=ConvBNAct(chans[1], chans[2], 5, stride=2, padding=1),
                flatten5=nn.Flatten(1),
            )
        )
        side = (int(feature_size) + 4 - 5) // 2 + 1
        side = (side + 2 - 5) // 2 + 1
        self.flat_features = chans[2] * side * side
        self.fcs = nn.Sequential(
            OrderedDict(fc6=LinearBNAct(self.flat_features, dims[0]), fc7=LinearBNAct(dims[0], dims[1]))
        )
        self.fc8 = nn.Linear(dims[1], 1)
        self.embed = nn.Embedding(self.num_classes, dims[1]) if self.num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``B`` (real > 0 > fake); ``labels`` (class indices) are required when conditioned."""
        h = self.fcs(self.convs(features))
        logit = self.fc8(h).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("FeatureDiscriminator: conditioned on the class (num_classes > 0): give labels")
            logit = logit + (self.embed(labels.long()) * h).sum(1)
        return logit

    def probability(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The table's sigmoid output: the probability that each feature is real."""
        return torch.sigmoid(self(features, labels))
