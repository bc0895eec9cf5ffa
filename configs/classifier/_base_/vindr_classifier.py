# VinDr-CXR normal/abnormal image classifier (the winners' "class 14" trick): data, evaluation and runtime
# shared by configs/classifier/*_vindr-normal.py. A config adds `model` (an ImageClassifier on a TimmBackbone).
#
# Data: a `cxrdet convert` output folder (images/<id>.png, folds.csv, labels_fused.csv). Label 0 = normal (no
# finding box after fusing the readers), 1 = abnormal; the folds are folds.csv's, the detectors' own, so the
# out-of-fold p_normal of `--all-folds` lines up with the detectors' OOF predictions.
#   cxrdet train configs/classifier/efficientnet-b5_512-e20_vindr-normal.py --data-root data/vindr_1024 --all-folds
#   cxrdet predict CONFIG CHECKPOINT --source test_pngs/ -o p_normal.csv      # image_id,p_normal
#   cxrdet submit wbf.csv --sample sample_submission.csv --normal-prob p_normal.csv -o submission.csv
# Images are resized to image_size x image_size (the aspect ratio is not kept: a fixed input for the batch);
# grey 1 channel in [0, 1] -> ImgDataPreprocessor -> [-2, 2]. The score of class 1 is P(abnormal); cxrdet
# writes p_normal = pred_score[0]. The best checkpoint is the one with the highest validation AUC.
_base_ = ["../../_base_/custom_runtime.py"]
data_root = None  # set by --data-root

image_size = 512
num_classes = 2
batch_size = 8  # B5 at 512 px on one GPU (not measured here: no GPU in this session)

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
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(type="VinDrImageDataset", data_root=data_root, split="fold0", subset="train", pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(type="VinDrImageDataset", data_root=data_root, split="fold0", subset="val", pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="ClassificationMetric", prefix="cls")
test_evaluator = val_evaluator

data_preprocessor = dict(type="ImgDataPreprocessor", mean=[0.5], std=[0.25])
model = dict(type="ImageClassifier", data_preprocessor=data_preprocessor, log_accuracy=True)

# AdamW with a cosine decay over the epochs (a common recipe for timm networks). mmengine evaluates this file
# when it reads it: a config that changes max_epochs sets param_scheduler again (as vindr-normal_example.py).
max_epochs = 20
optim_wrapper = dict(type="cxrdet.LateZeroGradOptimWrapper", optimizer=dict(type="AdamW", lr=2e-4, weight_decay=1e-2))
param_scheduler = [dict(type="CosineAnnealingLR", by_epoch=True, begin=0, end=max_epochs, eta_min=1e-6)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

default_hooks = dict(logger=dict(interval=20), checkpoint=dict(save_best="cls/auc", rule="greater"))
