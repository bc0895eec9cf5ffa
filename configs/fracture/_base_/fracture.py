# Fracture classification (seed fracture_cnn.txt, DOMAIN.md section 3): data, evaluation, schedule and runtime
# shared by every configs/fracture/*_fracture.py. A config adds `model` (an ImageClassifier) and its epochs.
#
# Data: class folders, data_root/<class>/*.png|jpg|jpeg|dcm (normal/ and fractured/, or any class names; the
# sorted folder names are the classes) or data_root/train/<class>/ + data_root/val/<class>/; an optional
# patients.csv (image_id,patient_id) keeps a patient's images in one subset. split='all': the seeded 8:2 split
# stratified per class (grouped by patient when patients.csv is there), as the write-up's 281/72 images.
#   cxrdet train configs/fracture/alexnet-d08-l2-1e-3_400-e100_fracture.py --data-root data/bones
#   cxrdet test  configs/fracture/alexnet-d08-l2-1e-3_400-e100_fracture.py work_dirs/.../best_cls_accuracy_*.pth
#       --data-root data/bones   # accuracy, F1, the per-class precision/recall/F1 report, parameter count
# Pipeline (the write-up's): grey input, CenterCrop(400), RandomHorizontalFlip for training, CrossEntropyLoss.
# An image smaller than 400 is zero-padded first (mmcv's auto_pad: at its bottom/right, where torchvision pads
# all sides), so the FC input stays 30,976 features.
# Inputs are in [0, 1]; ImgDataPreprocessor maps them to [-2, 2] (mean 0.5, std 0.25).
#
# Optimiser: the write-up gives lr 1e-4 but not the optimiser. Adam (betas 0.9/0.999): 1e-4 is Adam's usual
# step for training such CNNs from scratch, whereas plain SGD at 1e-4 would barely move a randomly initialised
# AlexNet in 100 epochs of ~18 iterations. The write-up's L2 lambda is Adam's `weight_decay` (PyTorch's
# coupled L2: lambda * w added to the gradient), set per config in optim_wrapper.optimizer.weight_decay.
# Batch size: not in the write-up; 16 (281 training images -> 18 iterations per epoch).
# No learning-rate schedule (constant lr, as the write-up describes none); the best validation epoch is kept.
_base_ = ["../../_base_/custom_runtime.py"]
data_root = None  # set by --data-root

crop_size = 400
num_classes = 2
batch_size = 16

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
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(
        type="ClassFolderDataset", data_root=data_root, split="all", subset="train", seed=0, pipeline=train_pipeline
    ),
)
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type="ClassFolderDataset", data_root=data_root, split="all", subset="val", seed=0, pipeline=test_pipeline
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="ClassificationMetric", prefix="cls")
test_evaluator = val_evaluator

data_preprocessor = dict(type="ImgDataPreprocessor", mean=[0.5], std=[0.25])
model = dict(type="ImageClassifier", data_preprocessor=data_preprocessor, log_accuracy=True)

optim_wrapper = dict(
    type="cxrdet.LateZeroGradOptimWrapper", optimizer=dict(type="Adam", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.0)
)
max_epochs = 100
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

default_hooks = dict(logger=dict(interval=10), checkpoint=dict(save_best="cls/accuracy", rule="greater"))
