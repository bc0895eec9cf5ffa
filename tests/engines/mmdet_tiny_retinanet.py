"""A tiny RetinaNet (ResNet-18 at 1/8 width, 96 px, 1 grey channel) for the mmdet engine's CPU tests.

Not a recipe: the smallest detector that learns the example's boxes in seconds. Tests shrink it further
with ``--cfg-options``. No random augmentation (the resume test needs repeatable runs).
"""

_base_ = ["mmdet::_base_/default_runtime.py"]

engine = "mmdet"
data_root = "data/"
classes = (
    "Aortic enlargement", "Atelectasis", "Calcification", "Cardiomegaly", "Consolidation", "ILD",
    "Infiltration", "Lung Opacity", "Nodule/Mass", "Other lesion", "Pleural effusion", "Pleural thickening",
    "Pneumothorax", "Pulmonary fibrosis",
)  # fmt: skip
size = 96

model = dict(
    type="RetinaNet",
    data_preprocessor=dict(
        type="DetDataPreprocessor", mean=[32768.0], std=[16384.0], bgr_to_rgb=False, pad_size_divisor=32
    ),
    backbone=dict(
        type="ResNet", depth=18, in_channels=1, base_channels=8, num_stages=4, out_indices=(1, 2, 3),
        frozen_stages=-1, norm_cfg=dict(type="BN", requires_grad=True), norm_eval=False, style="pytorch",
        init_cfg=None,
    ),
    neck=dict(
        type="FPN", in_channels=[16, 32, 64], out_channels=32, start_level=0, add_extra_convs="on_input", num_outs=5
    ),
    bbox_head=dict(
        type="RetinaHead", num_classes=14, in_channels=32, stacked_convs=1, feat_channels=32,
        anchor_generator=dict(
            type="AnchorGenerator", octave_base_scale=2, scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64, 128],
        ),
        bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4),
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type="L1Loss", loss_weight=1.0),
    ),
    train_cfg=dict(
        assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0, ignore_iof_thr=-1),
        sampler=dict(type="PseudoSampler"), allowed_border=-1, pos_weight=-1, debug=False,
    ),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5),
                  max_per_img=100),
)  # fmt: skip

load = dict(type="cxrdet.LoadGreyImageFromFile", channels=1)
train_pipeline = [
    load,
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Resize", scale=(size, size), keep_ratio=True),
    dict(type="PackDetInputs"),
]
test_pipeline = [
    load,
    dict(type="Resize", scale=(size, size), keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
dataset = dict(
    type="CocoDataset", data_root=data_root, metainfo=dict(classes=classes), data_prefix=dict(img="images/"),
)  # fmt: skip
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, sampler=dict(type="DefaultSampler", shuffle=True),
    batch_sampler=dict(type="AspectRatioBatchSampler"),
    dataset=dict(**dataset, ann_file="coco/all.json", filter_cfg=dict(filter_empty_gt=False), pipeline=train_pipeline),
)  # fmt: skip
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, drop_last=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(**dataset, ann_file="coco/all.json", test_mode=True, pipeline=test_pipeline),
)  # fmt: skip
test_dataloader = val_dataloader
val_evaluator = dict(type="cxrdet.VinDrMetric", iou_thr=0.4)
test_evaluator = val_evaluator

train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=2, val_interval=1)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
optim_wrapper = dict(
    type="OptimWrapper", optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0),
)  # fmt: skip
param_scheduler = []
default_hooks = dict(
    checkpoint=dict(type="CheckpointHook", interval=1, save_best="vindr/mAP", rule="greater"),
    logger=dict(type="LoggerHook", interval=1),
)
randomness = dict(seed=0)
