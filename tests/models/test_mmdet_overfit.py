"""Every MMDetection family of ``configs/mmdet/`` learns: a shrunk copy of the config's own model overfits one image.

The model is the config's (mmdet's class, head, losses, assigners), shrunk in depth and width (ResNet stages of
8-64 base channels, 32-channel FPN/heads, 1-2 transformer layers) and fed one 64 px grey image holding one bright
box. Within a bounded number of AdamW steps the total loss falls clearly and the top-scoring prediction recovers
the box (IoU >= 0.5) with the right label; the untrained model does not. DETR-type models get more steps.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pytest

CONFIGS = Path(__file__).parents[2] / "configs" / "mmdet"
SIZE = 64
BOX = (14.0, 18.0, 46.0, 42.0)  # x1, y1, x2, y2 in pixels
LABEL = 3

# depth/width overrides per config (merged into the config's model by mmengine's rules)
_SCRATCH = dict(frozen_stages=-1, norm_eval=False)  # BN trained: the mmdet defaults assume pretrained weights
_RESNET = dict(depth=18, base_channels=16, init_cfg=None, **_SCRATCH)
_FPN = dict(in_channels=[16, 32, 64, 128], out_channels=32)
_RPN = dict(in_channels=32, feat_channels=32)
_ROI = dict(bbox_roi_extractor=dict(out_channels=32))


_BBOX_HEAD = dict(in_channels=32, fc_out_channels=64)  # each stage's head (Cascade R-CNN has a list of 3)


def _detectors_backbone(**extra) -> dict:
    return dict(depth=50, base_channels=8, stem_channels=16, init_cfg=None, **_SCRATCH, **extra)


def _rfp(**extra) -> dict:
    return dict(
        in_channels=[32, 64, 128, 256],
        out_channels=32,
        aspp_out_channels=8,
        rfp_backbone=dict(rfp_inplanes=32, base_channels=8, stem_channels=16, **_SCRATCH, **extra),
    )


SHRINK = {
    "faster-rcnn_r50_fpn_1024-e12_vindr.py": dict(
        backbone=_RESNET, neck=_FPN, rpn_head=_RPN, roi_head=dict(_ROI, bbox_head=_BBOX_HEAD)
    ),
    "cascade-rcnn_r50-rfp_1024-e12_vindr.py": dict(
        backbone=_detectors_backbone(), neck=_rfp(), rpn_head=_RPN, roi_head=_ROI
    ),
    "detectors_cascade-rcnn_r50_1024-e12_vindr.py": dict(
        backbone=_detectors_backbone(), neck=_rfp(), rpn_head=_RPN, roi_head=_ROI
    ),
    "retinanet_r18_fpn_160-e12_example.py": dict(
        backbone=dict(base_channels=16), neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
        bbox_head=dict(in_channels=32, feat_channels=32),
    ),
}  # fmt: skip
_DETR_LAYERS = dict(num_layers=1)


def _dino() -> dict:
    # embed_dims stays 256: mmdet's DINO decoder encodes reference points with 128 sine features per coordinate
    return dict(
        num_queries=30,
        backbone=dict(depth=18, base_channels=16, init_cfg=None, out_indices=(1, 2, 3), frozen_stages=-1),
        neck=dict(in_channels=[32, 64, 128]),
        encoder=dict(num_layers=1, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=256))),
        decoder=dict(num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=256))),
        dn_cfg=dict(group_cfg=dict(num_dn_queries=10)),
        test_cfg=dict(max_per_img=30),
    )


def _detr() -> dict:
    return dict(
        num_queries=10,
        backbone=dict(depth=18, base_channels=16, init_cfg=None, frozen_stages=-1),
        neck=dict(in_channels=[128], out_channels=32),
        encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=dict(embed_dims=32, num_heads=4),
                                                  ffn_cfg=dict(embed_dims=32, feedforward_channels=64))),
        decoder=dict(num_layers=2, layer_cfg=dict(self_attn_cfg=dict(embed_dims=32, num_heads=4),
                                                  cross_attn_cfg=dict(embed_dims=32, num_heads=4),
                                                  ffn_cfg=dict(embed_dims=32, feedforward_channels=64))),
        positional_encoding=dict(num_feats=16),
        bbox_head=dict(embed_dims=32),
        test_cfg=dict(max_per_img=10),
    )  # fmt: skip


SHRINK["dino-4scale_r50_1024-e12_vindr.py"] = _dino()
SHRINK["detr_r50_1024-e150_vindr.py"] = _detr()

# (optimiser steps, learning rate): DETR-type models need more steps to match queries to the box
STEPS = {
    "dino-4scale_r50_1024-e12_vindr.py": (150, 1e-3),
    "detr_r50_1024-e150_vindr.py": (150, 1e-3),
}
DEFAULT_STEPS = (30, 1e-3)
# DetectoRS' switchable atrous convolution pads by reflection: its last stage needs more than 2 x 2 pixels
SIZES = {"detectors_cascade-rcnn_r50_1024-e12_vindr.py": 128}


def _box(size: int) -> tuple[float, ...]:
    return tuple(v * size / SIZE for v in BOX)


def _image(size: int):
    rng = np.random.default_rng(0)
    image = rng.normal(12000, 2000, (size, size)).clip(0, 65535)
    x1, y1, x2, y2 = (int(v) for v in _box(size))
    image[y1:y2, x1:x2] += 30000
    return image.astype(np.float32)


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _shrunk_model(config: str):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config, ConfigDict
    from mmengine.logging import MMLogger
    from mmengine.registry import DefaultScope

    from cxrdet.models.mmdet_sections import merge

    cfg = Config.fromfile(str(CONFIGS / config))
    register_all_modules(init_default_scope=False)
    model_cfg = merge(cfg.model.to_dict(), SHRINK[config])
    heads = model_cfg.get("roi_head", {}).get("bbox_head")
    if isinstance(heads, list):
        model_cfg["roi_head"]["bbox_head"] = [merge(head, _BBOX_HEAD) for head in heads]
    model_cfg = ConfigDict(model_cfg)
    channels = len(model_cfg["data_preprocessor"]["mean"])
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter at INFO
    try:
        with DefaultScope.overwrite_default_scope("mmdet"):
            model = MODELS.build(model_cfg)
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model, channels


def _batch(channels: int, size: int):
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    image = torch.from_numpy(_image(size))[None].repeat(channels, 1, 1)
    meta = dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0), img_id=0, img_path="a.png")
    sample = DetDataSample(metainfo=meta)
    sample.gt_instances = InstanceData(bboxes=torch.tensor([_box(size)]), labels=torch.tensor([LABEL]))
    return {"inputs": [image], "data_samples": [sample]}


def _top_box(model, channels: int, size: int):
    import torch

    model.eval()
    with torch.no_grad():
        (out,) = model.test_step(_batch(channels, size))
    model.train()
    pred = out.pred_instances
    if len(pred.scores) == 0:
        return None, None, 0.0
    k = int(pred.scores.argmax())
    return pred.bboxes[k].tolist(), int(pred.labels[k]), float(pred.scores[k])


@pytest.mark.parametrize("config", sorted(SHRINK), ids=lambda c: c.split("_")[0])
def test_a_shrunk_model_overfits_one_box(config):
    import torch
    from mmengine.optim import OptimWrapper

    torch.manual_seed(0)
    model, channels = _shrunk_model(config)
    steps, lr = STEPS.get(config, DEFAULT_STEPS)
    size = SIZES.get(config, SIZE)
    box = _box(size)
    untrained, _, _ = _top_box(copy.deepcopy(model), channels, size)  # a copy: no state of the run is touched
    untrained_iou = _iou(untrained, box) if untrained else 0.0
    wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0), clip_grad=dict(max_norm=10))
    losses = []
    for _ in range(steps):
        log = model.train_step(_batch(channels, size), wrapper)
        losses.append(float(log["loss"]))
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    top, label, score = _top_box(model, channels, size)
    iou = _iou(top, box) if top else 0.0
    print(f"{config}: {sum(p.numel() for p in model.parameters())} params, {size} px, {steps} steps, loss "
          f"{first:.3f} -> {last:.3f}, top box IoU {iou:.2f} label {label} score {score:.2f}, "
          f"untrained IoU {untrained_iou:.2f}")  # fmt: skip
    assert last < 0.5 * first, f"loss {first:.3f} -> {last:.3f}"
    assert iou >= 0.5, f"top box {top} vs {box}"
    assert label == LABEL
    assert untrained_iou < 0.5 or iou > untrained_iou
