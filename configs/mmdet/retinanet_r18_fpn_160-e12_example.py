# RetinaNet ResNet-18 FPN at 160 px, 12 epochs, from scratch: the small CPU example (`cxrdet demo`, tests).
# ResNet-18 at half width (base_channels=32: 32-256 channels), 64-channel FPN and head: 3.32 M parameters.
#
# Made for the built-in synthetic example as the demo converts it (`cxrdet make-example`, then
# `cxrdet convert --size 192 --folds 2`, 8-bit PNGs): 1 grey channel, BN trained, small anchors for the
# example's 10-90 px findings. For 16-bit PNGs use model.data_preprocessor=data_preprocessor_grey1 of the base.
# No pretrained weights are wanted here, so the scratch warning is off.
# Measured on the demo's example (make-example --n-train 200 --seed 0, convert --size 192 --folds 2, fold 0:
# 101 train / 99 val images): VinDr mAP@0.4 0.713 after 12 epochs (best 0.735 at epoch 9) against 0.000
# untrained (the same figures in two runs). Training with validation every 3 epochs took 442 s wall on the
# 2-core machine with other jobs running (load 3-4; 30 min under load 9; 677 CPU-seconds): above the demo's
# 3-minute stage budget, so a demo profile should lower image_size or max_epochs (not measured).
_base_ = ["mmdet::_base_/models/retinanet_r50_fpn.py", "./_base_/vindr_detection.py"]

data_root = "runs/demo/data/train/"
image_size = 160

model = dict(
    data_preprocessor=dict(
        type="DetDataPreprocessor", mean=[127.5], std=[63.75], bgr_to_rgb=False, pad_size_divisor=32
    ),
    backbone=dict(
        depth=18,
        base_channels=32,
        in_channels=1,
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=dict(type="BN", requires_grad=True),
        init_cfg=None,
    ),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64, num_outs=4),
    bbox_head=dict(
        num_classes=_base_.num_classes,
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        anchor_generator=dict(octave_base_scale=2, strides=[8, 16, 32, 64]),
    ),
    test_cfg=dict(score_thr=0.01, max_per_img=50),
)

meta_keys = _base_.meta_keys
train_pipeline = [
    dict(type="cxrdet.LoadGreyImageFromFile", channels=1),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Resize", scale=(image_size, image_size), keep_ratio=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackDetInputs", meta_keys=meta_keys),
]
test_pipeline = [
    dict(type="cxrdet.LoadGreyImageFromFile", channels=1),
    dict(type="Resize", scale=(image_size, image_size), keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="PackDetInputs", meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline),
)
test_dataloader = val_dataloader

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=3)
optim_wrapper = dict(
    _delete_=True,
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=0.002, weight_decay=0.05),
    clip_grad=dict(max_norm=10.0),
)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type="CosineAnnealingLR", by_epoch=True, begin=0, end=max_epochs, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(max_keep_ckpts=1))
custom_hooks = [dict(type="cxrdet.ScratchWarningHook", enabled=False)]
env_cfg = dict(dist_cfg=dict(backend="gloo"))
