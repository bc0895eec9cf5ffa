# CA-U-Net, CPU example: base 8 channels, 3 poolings (64 -> 8 px bottleneck), CBAM + ASPP, on 64 px resizes of
# `cxrdet make-example --task gastric` (128 px RGB views, half with a lesion). Trains in seconds on 2 cores.
#   cxrdet make-example --task gastric -o example_gastric/
#   cxrdet train configs/segmentation/ca-unet_example.py --data-root example_gastric/
# ASPP rates 2/4/6: the full config's 6/12/18 scaled to the 8 px bottleneck (16 px at 256 px input: 6/12/18 there
# reach across it; here they would see only zero padding beyond the centre tap).
# lr 3e-3 (the full recipe's 1e-3 at 100 epochs is slower to start). 157,550 parameters (measured).
# Measured (make-example --task gastric, seed 0: 64 views, 51 train / 13 val, Runner, 1 CPU thread, 8 epochs in
# 33-72 s on a shared 2-core machine): val lesion IoU / mIoU / PA, best epoch by mIoU:
#   CA-U-Net 0.966 / 0.981 / 0.997;  U-Net 0.951 / 0.973 / 0.996;  U-Net + CBAM 0.942 / 0.968 / 0.995;
#   U-Net + ASPP 0.949 / 0.972 / 0.996;  all-background mask (= the untrained CA-U-Net): 0 / 0.459 / 0.918.
# The synthetic lesions are easy; 13 validation views do not rank the ablations.
_base_ = ["./_base_/gastric_segmentation.py"]

input_size = 64
batch_size = 4
train_pipeline = [
    dict(type="LoadMedicalImage", channels=3, colour=True),
    dict(type="LoadMaskFromFile", num_classes=2),
    dict(type="Resize", scale=(input_size, input_size), keep_ratio=False),
    dict(type="RandomFlip", prob=0.5, direction="horizontal"),
    dict(type="PackMedicalInputs"),
]
test_pipeline = [
    dict(type="LoadMedicalImage", channels=3, colour=True),
    dict(type="LoadMaskFromFile", num_classes=2),
    dict(type="Resize", scale=(input_size, input_size), keep_ratio=False),
    dict(type="PackMedicalInputs"),
]
train_dataloader = dict(batch_size=batch_size, num_workers=0, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=batch_size, num_workers=0, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(base_channels=8, depth=3, cbam=True, aspp=True, aspp_rates=(2, 4, 6))
optim_wrapper = dict(optimizer=dict(lr=3e-3))
train_cfg = dict(max_epochs=8)
default_hooks = dict(logger=dict(interval=5))
