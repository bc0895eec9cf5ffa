# Gastric lesion segmentation (seed gain_ca_unet_gastric.txt, DOMAIN.md section 5): data, evaluation, schedule and
# runtime shared by every configs/segmentation/*_gastric.py. A config adds `model` (a UNetSegmenter: plain U-Net,
# U-Net + CBAM, U-Net + ASPP or CA-U-Net) and may change the size and epochs.
#
# Data: data_root/images/<id>.png (RGB endoscopy), data_root/masks/<id>.png (0 background / 1 lesion, 8-bit) and
# an optional labels.csv (image_id,label: normal/egc) that stratifies the seeded 8:2 split (`cxrdet make-example
# --task gastric` writes this layout).
#   cxrdet train configs/segmentation/ca-unet_256-e100_gastric.py --data-root data/gastric
#   cxrdet test  configs/segmentation/ca-unet_256-e100_gastric.py work_dirs/.../best_seg_mIoU_*.pth --data-root ...
#       # seg/PA (the write-up's PA), seg/IoU_lesion (its IoU: 0.64 for CA-U-Net), seg/mIoU, Dice
#   cxrdet predict CONFIG CHECKPOINT --source images/ -o pred.csv   # + pred_masks/<id>.png in each file's size
# Pipeline: colour kept (LoadMedicalImage colour=True), the mask moves with the image (LoadMaskFromFile, mmcv's
# Resize with nearest interpolation for masks, horizontal flip for training), inputs in [0, 1] normalised by the
# ImgDataPreprocessor to [-2, 2] (mean 0.5, std 0.25).
# Schedule: the write-up gives none for the segmentation network. Its classifier's recipe is used: Adam lr 1e-3,
# batch 4, 100 epochs at 256 x 256 (an input side divisible by 16 keeps U-Net's 4 poolings exact), constant lr,
# the best validation mIoU kept. Loss: pixel cross entropy (the write-up's).
_base_ = ["../../_base_/custom_runtime.py"]
data_root = None  # set by --data-root

input_size = 256
num_classes = 2
batch_size = 4

train_pipeline = [
    dict(type="LoadMedicalImage", channels=3, colour=True),
    dict(type="LoadMaskFromFile", num_classes=num_classes),
    dict(type="Resize", scale=(input_size, input_size), keep_ratio=False),
    dict(type="RandomFlip", prob=0.5, direction="horizontal"),
    dict(type="PackMedicalInputs"),
]
test_pipeline = [
    dict(type="LoadMedicalImage", channels=3, colour=True),
    dict(type="LoadMaskFromFile", num_classes=num_classes),
    dict(type="Resize", scale=(input_size, input_size), keep_ratio=False),
    dict(type="PackMedicalInputs"),
]
seg_dataset = dict(
    type="SegmentationDataset",
    data_root=data_root,
    img_dir="images",
    mask_dir="masks",
    classes=("background", "lesion"),
    split="all",
    seed=0,
)
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(seg_dataset, subset="train", pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(seg_dataset, subset="val", pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="SegmentationMetric", prefix="seg")
test_evaluator = val_evaluator

data_preprocessor = dict(type="ImgDataPreprocessor", mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
model = dict(
    type="UNetSegmenter",
    in_channels=3,
    num_classes=num_classes,
    base_channels=64,
    depth=4,
    cbam=False,
    aspp=False,
    data_preprocessor=data_preprocessor,
)

optim_wrapper = dict(
    type="cxrdet.LateZeroGradOptimWrapper", optimizer=dict(type="Adam", lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0)
)
max_epochs = 100
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

default_hooks = dict(logger=dict(interval=10), checkpoint=dict(save_best="seg/mIoU", rule="greater"))
