# EfficientDet (Tan, Pang and Le, CVPR 2020) on VinDr-CXR: the model (D0 widths) and the paper's recipe, shared
# by configs/mmdet/efficientdet-d{0,1,2}_*_vindr.py (D1/D2 scale the backbone, BiFPN and image size).
#
# Model: mmdet's EfficientNet backbone (TF "same" padding through cxrdet.Conv2dSamePadding, C3-C5) ->
# cxrdet.BiFPN (P3-P7, fast normalised fusion) -> cxrdet.EfficientDetHead (shared separable convs, BN per
# level, Swish, prior 0.01), anchors of octave base scale 4, 3 scales, ratios 0.5/1/2, strides 8-128; focal
# loss (alpha 0.25, gamma 1.5) and Huber box loss (delta 0.1, weight 50 / (4 N_pos), written as mmdet's
# SmoothL1Loss(beta=0.1, loss_weight=1.25)). BN as in TF: momentum 0.01, eps 1e-3 (multi-GPU: type='SyncBN').
#
# Recipe (the paper's, adapted to VinDr): SGD momentum 0.9, weight decay 4e-5 (none on norms and biases),
# lr 0.08 for 64 images a step (8 GPUs x 8; the paper: 0.16 for 128; mmdet's train.py --auto-scale-lr scales
# it to your batch), linear warm-up over the first epoch then cosine to 0, 300 epochs, gradient clipping at
# norm 10, EMA of the weights (momentum 2e-4). Augmentation: scale jitter 0.5-1.5 (the paper: 0.1-2.0, too
# strong for chest films), crop to the training size, horizontal flip.
#
# Nothing is downloaded: the backbone starts from random weights (the log says "training from scratch").
# From a local ImageNet EfficientNet (mmpretrain's efficientnet-b0 file, keys under 'backbone.'):
#   --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.prefix=backbone \
#     model.backbone.init_cfg.checkpoint=LOCAL_FILE
# From a COCO EfficientDet converted to these module names: --cfg-options load_from=LOCAL_FILE
_base_ = ["./vindr_detection.py"]

image_size = 512  # D0; the training crop and the test resize (longest side)
efficientdet_norm = dict(type="BN", momentum=0.01, eps=1e-3)

model = dict(
    type="cxrdet.EfficientDet",
    data_preprocessor=dict(_base_.data_preprocessor, pad_size_divisor=128),  # P7 has stride 128
    backbone=dict(
        type="EfficientNet",
        arch="b0",
        drop_path_rate=0.2,
        out_indices=(3, 4, 5),
        # frozen_stages: mmdet's EfficientNet default 0 freezes nothing (-1 is refused there)
        conv_cfg=dict(type="cxrdet.Conv2dSamePadding"),
        norm_cfg=efficientdet_norm,
        norm_eval=False,
        init_cfg=None,  # mmdet's EfficientNet default: Kaiming convs, BN weights 1 (random weights)
    ),
    neck=dict(
        type="cxrdet.BiFPN",
        in_channels=[40, 112, 320],
        out_channels=64,
        num_stages=3,
        num_outs=5,
        norm_cfg=efficientdet_norm,
    ),
    bbox_head=dict(
        type="cxrdet.EfficientDetHead",
        num_classes=_base_.num_classes,
        in_channels=64,
        feat_channels=64,
        stacked_convs=3,
        num_levels=5,
        norm_cfg=efficientdet_norm,
        anchor_generator=dict(
            type="AnchorGenerator",
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64, 128],
            center_offset=0.5,
        ),
        bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4),
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=1.5, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type="SmoothL1Loss", beta=0.1, loss_weight=1.25),
    ),
    train_cfg=dict(
        assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0, ignore_iof_thr=-1),
        sampler=dict(type="PseudoSampler"),  # focal loss: every anchor counts
        allowed_border=-1,
        pos_weight=-1,
        debug=False,
    ),
    test_cfg=dict(
        nms_pre=1000, min_bbox_size=0, score_thr=0.001, nms=dict(type="nms", iou_threshold=0.5), max_per_img=100
    ),
)

meta_keys = _base_.meta_keys
train_pipeline = [
    dict(type="cxrdet.LoadGreyImageFromFile", channels=3),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="RandomResize", scale=(image_size, image_size), ratio_range=(0.5, 1.5), keep_ratio=True),
    dict(type="RandomCrop", crop_size=(image_size, image_size), allow_negative_crop=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackDetInputs", meta_keys=meta_keys),
]
test_pipeline = [
    dict(type="cxrdet.LoadGreyImageFromFile", channels=3),
    dict(type="Resize", scale=(image_size, image_size), keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True),  # after Resize: GT stays in the PNG frame, like predictions
    dict(type="PackDetInputs", meta_keys=meta_keys),
]
train_dataloader = dict(batch_size=8, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 300
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(
    _delete_=True,
    type="OptimWrapper",
    optimizer=dict(type="SGD", lr=0.08, momentum=0.9, weight_decay=4e-5, nesterov=False),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=10.0, norm_type=2),
)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(
        type="CosineAnnealingLR",
        by_epoch=True,
        begin=1,
        end=max_epochs,
        T_max=max_epochs - 1,
        eta_min=0.0,
        convert_to_iter_based=True,
    ),
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
default_hooks = dict(checkpoint=dict(interval=5))
custom_hooks = [
    dict(type="cxrdet.ScratchWarningHook"),
    dict(type="EMAHook", ema_type="ExpMomentumEMA", momentum=0.0002, update_buffers=True, priority=49),
]
