# TJ-Net tiny CPU example: width 0.25 (8-128 channels, dense layers 64 wide), 64 x 64 grey inputs, batch 8,
# a few epochs: trains in seconds on the synthetic hands of `cxrdet make-example --task bone-age`.
#   cxrdet make-example --task bone-age -o runs/bone-age-example
#   cxrdet train configs/bone_age/tjnet_example.py --data-root runs/bone-age-example
# The pipelines and dataloaders are rebuilt here for the smaller image size (the base's are evaluated at 512).
# 230,202 parameters. Measured through mmengine's Runner on make-example's default set (200 hands at 128 px,
# seed 0; split 'all': 160 train / 40 val), one torch thread: val MAD 22.6 months after 12 epochs in 12.9 s
# (epoch 1: 53.5; the mean-age predictor: 53.5; 20 epochs: 20.3 in 19.3 s). 96 px or lr 6e-3 did worse (25.6,
# 35.2 at 12 epochs). The example's sex signal is faint: sex accuracy stays near 0.5 at this length.
_base_ = ["./_base_/tjnet.py"]

image_size = 64
model = dict(width=0.25, dropout=0.1, label_smoothing=0.1)

train_pipeline = [
    dict(type="LoadMedicalImage", channels=1),
    dict(type="Resize", scale=(image_size, image_size), keep_ratio=False),
    dict(type="PackMedicalInputs", meta_keys=_base_.meta_keys),
]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(**_base_.bone_age_dataset, subset="train", pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(**_base_.bone_age_dataset, subset="val", pipeline=test_pipeline),
)
test_dataloader = val_dataloader

max_epochs = 12
optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [dict(type="CosineAnnealingLR", by_epoch=True, begin=0, end=max_epochs, eta_min=1e-5)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
default_hooks = dict(logger=dict(type="LoggerHook", interval=10))
