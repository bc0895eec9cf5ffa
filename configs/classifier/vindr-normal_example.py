# VinDr normal/abnormal classifier, CPU example: timm's tiny EfficientNet (`test_efficientnet`, the winners'
# family at test size: 5 stages of 16-64 channels, 256 features) at 128 x 128, a few epochs, on the demo's
# convert folder (`cxrdet make-example` then `cxrdet convert --folds 2`).
#   cxrdet train configs/classifier/vindr-normal_example.py --data-root runs/demo/data/train --fold 0
# Parameters (1 channel, 2 classes): 99,278 measured (timm trunk 98,764 + FC 256 -> 2: 514).
# Measured (demo convert folder, 200 labelled images, fold 0 of 2: 101 train / 99 val, Runner, 1 CPU thread):
# 16 s of training for 6 epochs; val AUC 0.912 after 6 epochs (best 0.918 at epoch 4), accuracy 0.85 against
# 0.69 for the majority class; lr 3e-3 with a cosine decay (the full recipe's 2e-4 is for B5 and 20 epochs).
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
