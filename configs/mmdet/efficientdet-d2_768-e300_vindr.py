# EfficientDet-D2 at 768 px, 300 epochs on VinDr-CXR: EfficientNet-B2, BiFPN 112 channels x 5 stages, head 3 layers.
#
# D0's model and recipe (_base_/efficientdet.py: optimiser, schedule, local pretrained weights; nothing is
# downloaded) scaled as in the paper; 8.1 M parameters with COCO's 90 classes. The pipelines are restated
# because mmengine evaluates the base's image_size when it parses the base.
_base_ = ["./_base_/efficientdet.py"]

image_size = 768
model = dict(
    backbone=dict(arch="b2"),
    neck=dict(in_channels=[48, 120, 352], out_channels=112, num_stages=5),
    bbox_head=dict(in_channels=112, feat_channels=112, stacked_convs=3),
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
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="PackDetInputs", meta_keys=meta_keys),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
