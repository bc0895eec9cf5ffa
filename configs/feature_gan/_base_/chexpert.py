# Feature GAN for class imbalance (seed feature_gan_cxr.txt, DOMAIN.md section 4): data, evaluation and runtime
# shared by both steps (configs/feature_gan/extractor_* = step 1, feature-gan_* = step 2).
#
# Data: a CheXpert-style CSV of image paths (relative to --data-root) and labels: ImageCsvDataset. The example's
# layout (`cxrdet make-example --task imbalanced`): train.csv (10:1 imbalanced; split here 8:2 per class into
# train / val, val picks the best epoch) and test.csv (balanced, held out: `cxrdet test` scores it whole). For
# CheXpert itself: data_root = the folder holding CheXpert-v1.0-small/, ann_file=CheXpert-v1.0-small/train.csv,
# label_column=None and classes=[the six findings] (one 0/1 column per finding; rows with exactly one positive
# of the six are kept; patients from the patientNNNNN folders stay in one subset), and a test CSV of your own.
# Input: 160 x 160 x 3 as the write-up (grey radiographs repeated to 3 channels), resized without keeping the
# aspect ratio; no augmentation (the write-up names none). Inputs in [0, 1] -> [-2, 2] (mean 0.5, std 0.25).
# Metric: ClassificationMetric (accuracy, balanced accuracy, per-class recall = per-class accuracy); the best
# checkpoint by balanced accuracy on the (imbalanced) validation subset.
_base_ = ["../../_base_/custom_runtime.py"]
data_root = None  # set by --data-root

input_size = 160
in_channels = 3
batch_size = 40
classes = None  # None: the sorted label names of train.csv

pipeline = [
    dict(type="LoadMedicalImage", channels=3),
    dict(type="Resize", scale=(input_size, input_size), keep_ratio=False),
    dict(type="PackMedicalInputs"),
]
dataset = dict(
    type="ImageCsvDataset",
    data_root=data_root,
    ann_file="train.csv",
    path_column="Path",
    label_column="label",
    classes=classes,
    split="all",
    seed=0,
    pipeline=pipeline,
)
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(dataset, subset="train"),
)
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(dataset, subset="val"),
)
test_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(dataset, ann_file="test.csv", held_out=True, subset="val"),
)
val_evaluator = dict(type="ClassificationMetric", prefix="cls")
test_evaluator = val_evaluator
data_preprocessor = dict(type="ImgDataPreprocessor", mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
model = dict(data_preprocessor=data_preprocessor)  # each step sets its model type and parts

default_hooks = dict(logger=dict(interval=10), checkpoint=dict(save_best="cls/balanced_accuracy", rule="greater"))
