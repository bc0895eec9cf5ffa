# TJ-Net bone age (Tang, Wu and Shen 2020): model, RSNA-layout data, pipelines, evaluation and schedule shared by
# every configs/bone_age/tjnet*.py. The concrete configs set the model options and the schedule; a config with another
# image_size must rebuild the pipelines and dataloaders (mmengine evaluates this file's expressions when parsing).
#
# Data: the RSNA Bone Age layout, `boneage-training-dataset.csv` (id,boneage,male: age in months, male
# True/False) and `boneage-training-dataset/<id>.png|jpg|dcm` under --data-root (`cxrdet make-example --task
# bone-age` writes the same layout). split='all' is the seeded 8:2 split of the CSV; 'foldK' the K-fold.
#   cxrdet train configs/bone_age/tjnet_512-e100_rsna.py --data-root data/rsna-bone-age
# Images are read as 1 grey channel in [0, 1] (16-bit precision kept), stretched to image_size x image_size
# (keep_ratio=False: hand radiographs vary little in aspect, ~0.75-0.85, and a plain stretch maps the Grad-CAM
# and CBAM maps back onto the original image exactly), and normalised to about [-2, 2] by the preprocessor.
# No flip: the write-up normalises the hand's orientation (rotates every image the same way) instead.
_base_ = ["../../_base_/custom_runtime.py"]
data_root = None  # set by --data-root

image_size = 512
ann_file = "boneage-training-dataset.csv"
img_dir = "boneage-training-dataset"

model = dict(
    type="TJNet",
    in_channels=1,
    width=1.0,
    use_cbam=True,
    joint=True,
    sex_loss_weight=1.0,
    label_smoothing=0.0,  # plain cross entropy over the 77 classes, as the write-up's softmax classifier
    frozen_blocks=0,
    dropout=0.3,
    data_preprocessor=dict(type="ImgDataPreprocessor", mean=[0.5], std=[0.25]),
)

meta_keys = ("img_id", "img_path", "ori_shape", "img_shape")
train_pipeline = [
    dict(type="LoadMedicalImage", channels=1),
    dict(type="Resize", scale=(image_size, image_size), keep_ratio=False),
    dict(type="PackMedicalInputs", meta_keys=meta_keys),
]
test_pipeline = train_pipeline

bone_age_dataset = dict(
    type="BoneAgeDataset",
    data_root=data_root,
    ann_file=ann_file,
    img_dir=img_dir,
    split="all",
    seed=0,
    val_fraction=0.2,
    num_folds=5,
)
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(**bone_age_dataset, subset="train", pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(**bone_age_dataset, subset="val", pipeline=test_pipeline),
)
test_dataloader = val_dataloader

# MAD / RMSE in months and years, sex accuracy; the test evaluator's plot_dir gives the per-age-group error PNG
val_evaluator = dict(type="BoneAgeMetric")
test_evaluator = dict(type="BoneAgeMetric", plot_dir=None)  # cxrdet test sets it to the test folder

# Adam, batch 16 (the write-up). lr 1e-3: Adam's default in TensorFlow, which the write-up used without naming a
# learning rate; batch-normalised nets train from scratch with it. Divided by 10 at 60 % and 85 % of training.
max_epochs = 100
optim_wrapper = dict(type="cxrdet.LateZeroGradOptimWrapper", optimizer=dict(type="Adam", lr=1e-3, weight_decay=0.0))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=200),  # warm-up, 200 iterations
    dict(type="MultiStepLR", by_epoch=True, milestones=[60, 85], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

default_hooks = dict(
    checkpoint=dict(max_keep_ckpts=3, save_best="bone_age/MAD_months", rule="less"),
    logger=dict(interval=50),
)
