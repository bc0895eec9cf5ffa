# Fracture classifier, CPU example: a tiny VGG on 64 px centre crops of `cxrdet make-example --task fracture`
# (128 px images; its fractures lie in the central 40%, inside the crop). Trains in seconds on 2 cores.
#   cxrdet make-example --task fracture -o example_fracture/
#   cxrdet train configs/fracture/fracture_example.py --data-root example_fracture/
# VGG 8-16-32 (one 3x3 conv + BN + ReLU per stage, 2x2 max-pools), global average, FC 2: 6,066 parameters (measured).
# lr 3e-3 (the full recipe's 1e-4 is for the large CNNs and 100 epochs).
# Measured (make-example --task fracture, seed 0: 80 images of 40 patients, 64 train / 16 val, Runner, 1 CPU
# thread): 15 epochs in about 10 s; val accuracy 0.94 at the last epoch (best 1.00 at epoch 9) against 0.50 for
# the majority class; the small validation set makes it jump between epochs (0.50-1.00).
_base_ = ["./_base_/fracture.py"]

crop_size = 64
batch_size = 8
train_pipeline = [
    dict(type="LoadMedicalImage", channels=1),
    dict(type="CenterCrop", crop_size=crop_size, auto_pad=True),
    dict(type="RandomFlip", prob=0.5, direction="horizontal"),
    dict(type="PackMedicalInputs"),
]
test_pipeline = [
    dict(type="LoadMedicalImage", channels=1),
    dict(type="CenterCrop", crop_size=crop_size, auto_pad=True),
    dict(type="PackMedicalInputs"),
]
train_dataloader = dict(batch_size=batch_size, num_workers=0, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=batch_size, num_workers=0, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(
    backbone=dict(type="VGG", in_channels=1, stage_widths=[8, 16, 32], convs_per_stage=[1, 1, 1], norm=True, out="avg"),
    head=dict(type="ClsHead", in_features=32, num_classes=2),
)
optim_wrapper = dict(optimizer=dict(lr=3e-3))
train_cfg = dict(max_epochs=15)
default_hooks = dict(logger=dict(interval=5))
