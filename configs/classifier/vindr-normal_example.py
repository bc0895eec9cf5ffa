# VinDr normal/abnormal classifier, CPU example: timm's tiny EfficientNet (`test_efficientnet`, the winners'
# family at test size: 5 stages of 16-64 channels, 256 features) at 128 x 128, a few epochs, on the demo's
# convert folder (`cxrdet make-example` then `cxrdet convert --folds 2`).
#   cxrdet train configs/classifier/vindr-normal_example.py --data-root runs/demo/data/train --fold 0
# Parameters (1 channel, 2 classes): MEASURED_PARAMS measured.
_base_ = ["./_base_/vindr_classifier.py"]

image_size = 128
batch_size = 16
max_epochs = 6
train_pipeline = [
    dict(type="LoadMedicalImage", channels=1),
    dict(type="Resize", scale=(image_size, image_size), keep_ratio=False),
    dict(type="RandomFlip", prob=0.5, direction="horizontal"),
    dict(type="PackMedicalInputs"),
]
test_pipeline = [
    dict(type="LoadMedicalImage", channels=1),
    dict(type="Resize", scale=(image_size, image_size), keep_ratio=False),
    dict(type="PackMedicalInputs"),
]
train_dataloader = dict(batch_size=batch_size, num_workers=0, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=batch_size, num_workers=0, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(
    backbone=dict(type="TimmBackbone", model_name="test_efficientnet", in_chans=1, pretrained=None),
    head=dict(type="ClsHead", in_features=256, num_classes=2),
)
optim_wrapper = dict(optimizer=dict(lr=3e-3, weight_decay=1e-4))
param_scheduler = [dict(type="CosineAnnealingLR", by_epoch=True, begin=0, end=max_epochs, eta_min=1e-5)]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=5))
