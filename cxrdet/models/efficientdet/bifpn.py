"""EfficientDet neck (registered ``cxrdet.BiFPN``): backbone C3-C5 -> P3-P7 through repeated BiFPN stages.

Between the backbone and the first stage: every backbone level gets a 1x1 conv + BN to ``out_channels``
(twice for the levels above the first: one copy feeds the top-down pass, one the bottom-up pass, as in
the paper's implementation); the extra levels are ``P6 = maxpool(BN(conv1x1(C5)))`` and
``P7 = maxpool(P6)`` (3x3/2 max-pool, TF SAME padding). Then ``num_stages`` :class:`BiFPNLayer` stages.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.models.efficientdet.bifpn_layer import BiFPNLayer
from cxrdet.models.efficientdet.same_padding import Conv2dSamePadding, MaxPool2dSamePadding
from cxrdet.registry import MODELS

DEFAULT_NORM = {"type": "BN", "momentum": 0.01, "eps": 1e-3}


def _resample(in_channels: int, out_channels: int, norm_cfg: dict) -> nn.Module:
    """1x1 conv + BN when the channels differ, identity otherwise."""
    if in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        Conv2dSamePadding(in_channels, out_channels, 1, bias=True), build_norm_layer(norm_cfg, out_channels)[1]
    )


@MODELS.register_module()
class BiFPN(BaseModule):
    """Bidirectional feature pyramid with fast normalised fusion.

    Args:
        in_channels: channels of the backbone levels used, finest first (e.g. ``[40, 112, 320]``).
        out_channels: the BiFPN width (D0 64, D1 88, D2 112).
        num_stages: repeated BiFPN stages (D0 3, D1 4, D2 5).
        num_outs: output levels (5: P3-P7); levels above the backbone's come from max-pooling.
        norm_cfg: mmcv norm config (TF's BN: momentum 0.01, eps 1e-3).
        eps: the fusion epsilon.
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_stages: int,
        num_outs: int = 5,
        norm_cfg: dict | None = None,
        eps: float = 1e-4,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        if init_cfg is None:
            init_cfg = {"type": "Xavier", "layer": "Conv2d", "distribution": "uniform"}
        super().__init__(init_cfg=init_cfg)
        in_channels = [int(c) for c in in_channels]
        if not in_channels or num_outs < len(in_channels):
            raise ConfigError(
                f"BiFPN num_outs={num_outs} must be >= the {len(in_channels)} backbone levels (at least 1)"
            )
        if num_stages < 1:
            raise ConfigError(f"BiFPN num_stages={num_stages}: expected at least 1")
        norm_cfg = dict(DEFAULT_NORM if norm_cfg is None else norm_cfg)
        self.in_channels = in_channels
        self.out_channels = int(out_channels)
        self.num_outs = int(num_outs)
        self.laterals = nn.ModuleList(_resample(c, out_channels, norm_cfg) for c in in_channels)
        self.laterals_bottom_up = nn.ModuleList(_resample(c, out_channels, norm_cfg) for c in in_channels[1:])
        num_extra = num_outs - len(in_channels)
        self.extra = nn.ModuleList()
        for i in range(num_extra):
            pool = MaxPool2dSamePadding(3, 2)
            self.extra.append(
                nn.Sequential(_resample(in_channels[-1], out_channels, norm_cfg), pool) if i == 0 else pool
            )
        self.stages = nn.ModuleList(BiFPNLayer(out_channels, num_outs, norm_cfg, eps) for _ in range(num_stages))

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Backbone maps (finest first) -> ``num_outs`` maps of ``out_channels`` channels."""
        if len(feats) != len(self.in_channels):
            raise ValueError(f"{len(feats)} backbone maps for a BiFPN over {len(self.in_channels)} levels")
        got = [int(f.shape[1]) for f in feats]
        if got != self.in_channels:
            raise ConfigError(
                f"BiFPN in_channels={self.in_channels} but the backbone gives {got} channels: "
                "set model.neck.in_channels to the backbone's (EfficientNet-B0/B1: [40, 112, 320], B2: [48, 120, 352])"
            )
        inputs = [lateral(f) for lateral, f in zip(self.laterals, feats)]
        laterals = [inputs[0]] + [lateral(f) for lateral, f in zip(self.laterals_bottom_up, feats[1:])]
        x = feats[-1]
        for extra in self.extra:
            x = extra(x)
            inputs.append(x)
            laterals.append(x)
        outs = self.stages[0](inputs, laterals)
        for stage in self.stages[1:]:
            outs = stage(outs)
        return tuple(outs)
