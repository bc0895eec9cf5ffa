"""EfficientDet head (registered ``cxrdet.EfficientDetHead``): P3-P7 maps -> class scores and box deltas.

Two towers (class, box) of ``stacked_convs`` depthwise-separable convs whose weights are shared across the
pyramid levels while every level has its own BN; Swish after each; then a separable predictor per task
(class bias set to the prior 0.01). Anchors, targets and losses are mmdet's ``AnchorHead`` machinery with
the paper's defaults: octave base scale 4, 3 scales, ratios 0.5/1/2, strides 8-128, sigmoid focal loss
(alpha 0.25, gamma 1.5) and Huber (delta 0.1) box loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmdet.models.dense_heads.anchor_head import AnchorHead
from mmengine.model import bias_init_with_prob
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.models.efficientdet.separable_conv import SeparableConv
from cxrdet.registry import MODELS

DEFAULT_NORM = {"type": "BN", "momentum": 0.01, "eps": 1e-3}
PAPER_ANCHORS = {
    "type": "AnchorGenerator",
    "octave_base_scale": 4,
    "scales_per_octave": 3,
    "ratios": [0.5, 1.0, 2.0],
    "strides": [8, 16, 32, 64, 128],
    "center_offset": 0.5,
}
PAPER_FOCAL = {"type": "FocalLoss", "use_sigmoid": True, "gamma": 1.5, "alpha": 0.25, "loss_weight": 1.0}
# The paper's box loss is Huber(delta=0.1) * 50 / (4 * num_positives). mmdet's SmoothL1Loss(beta) equals
# Huber(beta) / beta and divides by num_positives, so the same loss is SmoothL1(beta=0.1) * 50 * 0.1 / 4.
PAPER_HUBER = {"type": "SmoothL1Loss", "beta": 0.1, "loss_weight": 1.25}
PAPER_CODER = {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4, "target_stds": [1.0] * 4}


class _Tower(nn.Module):
    """``depth`` shared separable convs, a BN per (conv, level), Swish after each."""

    def __init__(self, channels: int, depth: int, num_levels: int, norm_cfg: dict) -> None:
        super().__init__()
        self.convs = nn.ModuleList(SeparableConv(channels, channels) for _ in range(depth))
        self.norms = nn.ModuleList(
            nn.ModuleList(build_norm_layer(norm_cfg, channels)[1] for _ in range(num_levels)) for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, level: int) -> torch.Tensor:
        for conv, norms in zip(self.convs, self.norms):
            x = F.silu(norms[level](conv(x)))
        return x


@MODELS.register_module()
class EfficientDetHead(AnchorHead):
    """EfficientDet's class/box head over 5 levels.

    Args:
        num_classes: object classes (sigmoid scores, no background class).
        in_channels: channels of the neck's maps (the BiFPN width).
        feat_channels: channels inside the towers (the paper: the BiFPN width; must equal ``in_channels``
            only where ``stacked_convs`` is 0).
        stacked_convs: separable convs per tower (D0-D2: 3).
        num_levels: pyramid levels (5).
        norm_cfg: mmcv norm config of the per-level norms.
        anchor_generator: mmdet prior generator config (the paper's anchors by default).
        bbox_coder: mmdet box coder config.
        loss_cls: classification loss config (focal loss by default).
        loss_bbox: box loss config (Huber by default).
        train_cfg: assigner/sampler config (mmdet's ``train_cfg``).
        test_cfg: NMS config (mmdet's ``test_cfg``).
        init_cfg: mmengine init config (normal std 0.01 for the convs; the class bias is set after it).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        feat_channels: int | None = None,
        stacked_convs: int = 3,
        num_levels: int = 5,
        norm_cfg: dict | None = None,
        anchor_generator: dict | None = None,
        bbox_coder: dict | None = None,
        loss_cls: dict | None = None,
        loss_bbox: dict | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        self.stacked_convs = int(stacked_convs)
        self.num_levels = int(num_levels)
        self.norm_cfg = dict(DEFAULT_NORM if norm_cfg is None else norm_cfg)
        anchor_generator = dict(PAPER_ANCHORS if anchor_generator is None else anchor_generator)
        n_strides = len(anchor_generator.get("strides", []))
        if n_strides != self.num_levels:
            raise ConfigError(
                f"EfficientDetHead: anchor_generator has {n_strides} strides for {self.num_levels} levels"
            )
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            feat_channels=in_channels if feat_channels is None else feat_channels,
            anchor_generator=anchor_generator,
            bbox_coder=dict(PAPER_CODER if bbox_coder is None else bbox_coder),
            loss_cls=dict(PAPER_FOCAL if loss_cls is None else loss_cls),
            loss_bbox=dict(PAPER_HUBER if loss_bbox is None else loss_bbox),
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg if init_cfg is not None else {"type": "Normal", "layer": "Conv2d", "std": 0.01},
        )

    def _init_layers(self) -> None:
        """Builds the towers and the predictors (called by ``AnchorHead.__init__``)."""
        if self.stacked_convs > 0 and self.feat_channels != self.in_channels:
            raise ConfigError(
                f"EfficientDetHead feat_channels={self.feat_channels} != in_channels={self.in_channels}: "
                "EfficientDet's towers keep the BiFPN width"
            )
        channels = self.in_channels
        self.cls_tower = _Tower(channels, self.stacked_convs, self.num_levels, self.norm_cfg)
        self.reg_tower = _Tower(channels, self.stacked_convs, self.num_levels, self.norm_cfg)
        self.cls_pred = SeparableConv(channels, self.num_base_priors * self.cls_out_channels)
        self.reg_pred = SeparableConv(channels, self.num_base_priors * self.bbox_coder.encode_size)

    def init_weights(self) -> None:
        """mmengine's init (``init_cfg``), then zero biases and the class prior ``p = 0.01``."""
        super().init_weights()
        for tower in (self.cls_tower, self.reg_tower):
            for conv in tower.convs:
                nn.init.zeros_(conv.pointwise.bias)
        nn.init.constant_(self.cls_pred.pointwise.bias, bias_init_with_prob(0.01))
        nn.init.zeros_(self.reg_pred.pointwise.bias)

    def forward(self, x: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Neck maps (finest first) -> (class scores, box deltas), one ``N x A*C x H x W`` map per level."""
        if len(x) != self.num_levels:
            raise ValueError(f"{len(x)} maps for a head over {self.num_levels} levels")
        cls_scores = [self.cls_pred(self.cls_tower(feat, level)) for level, feat in enumerate(x)]
        bbox_preds = [self.reg_pred(self.reg_tower(feat, level)) for level, feat in enumerate(x)]
        return cls_scores, bbox_preds
