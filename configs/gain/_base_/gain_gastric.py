# GAIN on gastric endoscopy (seed gain_ca_unet_gastric.txt, DOMAIN.md section 5): data, evaluation, schedule and
# runtime shared by every configs/gain/*_gastric.py. A config adds `model` (a GAINClassifier) and may shrink it.
#
# Data: data_root/labels.csv (image_id,label[,patient_id]; label normal or egc: normal = 0, egc = 1),
# data_root/images/<id>.png|jpg and optional data_root/masks/<id>.png (0 background, > 0 lesion), the layout of
# `cxrdet make-example --task gastric`. split='all': the seeded 8:2 split stratified by label (grouped by patient
# when the CSV has patient_id). An image without a mask file trains on its label alone.
#   cxrdet train configs/gain/gain_r50_224-e80_gastric.py --data-root data/gastric
#   cxrdet test  configs/gain/gain_r50_224-e80_gastric.py work_dirs/.../best_cls_accuracy_*.pth --data-root ...
#       # accuracy, precision, recall (sensitivity), specificity, F1, balanced accuracy, per-class recall
#   cxrdet explain configs/gain/gain_r50_224-e80_gastric.py CHECKPOINT images/ -o maps/   # Grad-CAM overlays
# Pipeline (the write-up's): RGB at 224 x 224 (LoadMedicalImage colour=True keeps the endoscope's colours), the mask
# resized with the image (nearest), random horizontal/vertical flips for training (an endoscopic view has no
# up or left). Inputs in [0, 1] -> ImageNet mean/std (the statistics a pretrained ResNet-50 expects).
# Loss (GAINClassifier): 0.9 * CE + 0.1 * MSE(Grad-CAM attention of the true class, mask) on EGC images with a
# lesion mask (normal views have no lesion to point at: mask_positive_only); the GAIN paper's attention mining
# (mining_weight > 0: the true class's probability on I* = I - sigmoid(w (A - s)) * I, w = 10, s = 0.5) is off
# by default and, when on, runs on EGC images only (mining_classes=[1]).
# Optimiser (the write-up's): Adam, lr 1e-3, batch 4, 80 epochs, no schedule; the best validation accuracy is kept.
_base_ = ["../../_base_/custom_runtime.py"]
data_root = None  # set by --data-root

img_size = 224
num_classes = 2
batch_size = 4

train_pipeline = [
    dict(type="LoadMedicalImage", channels=3, colour=True),
    dict(type="LoadMaskFromFile"),
    dict(type="Resize", scale=(img_size, img_size)),
    dict(type="RandomFlip", prob=[0.25, 0.25], direction=["horizontal", "vertical"]),
    dict(type="PackMedicalInputs"),
]
test_pipeline = [
    dict(type="LoadMedicalImage", channels=3, colour=True),
    dict(type="LoadMaskFromFile"),
    dict(type="Resize", scale=(img_size, img_size)),
    dict(type="PackMedicalInputs"),
]
dataset = dict(type="MaskedClassDataset", data_root=data_root, split="all", seed=0, classes=("normal", "egc"))
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(dataset, subset="train", pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(dataset, subset="val", pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="ClassificationMetric", prefix="cls")
test_evaluator = val_evaluator

data_preprocessor = dict(type="ImgDataPreprocessor", mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
model = dict(
    type="GAINClassifier",
    data_preprocessor=data_preprocessor,
    cls_weight=0.9,
    mask_weight=0.1,
    mining_weight=0.0,
    mining_w=10.0,
    mining_sigma=0.5,
    mask_positive_only=True,
    mining_classes=[1],
)

optim_wrapper = dict(
    type="cxrdet.LateZeroGradOptimWrapper", optimizer=dict(type="Adam", lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0)
)
max_epochs = 80
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

default_hooks = dict(logger=dict(interval=20), checkpoint=dict(save_best="cls/accuracy", rule="greater"))
