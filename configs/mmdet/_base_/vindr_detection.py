# VinDr-CXR detection with MMDetection: data, evaluation and runtime shared by every configs/mmdet/*_vindr.py.
#
# Data: the output folder of `cxrdet convert` (PNGs under images/, coco/foldK_{train,val}.json, classes.json):
#   cxrdet convert --dicom-dir train/ --labels train.csv -o data/vindr_1024 --size 1024 --folds 5
# Train:   cxrdet train configs/mmdet/<config>.py --data-root data/vindr_1024 --all-folds
# or with mmdet's own tool (run from the folder holding data_root; the fold is set by its ann_files):
#   python "$(python -c 'import mmdet, os; print(os.path.dirname(mmdet.__file__))')/.mim/tools/train.py" CONFIG \
#     --cfg-options \
#     train_dataloader.dataset.ann_file=coco/fold1_train.json val_dataloader.dataset.ann_file=coco/fold1_val.json \
#     test_dataloader.dataset.ann_file=coco/fold1_val.json
# A detector config inherits an mmdet model base through `mmdet::` and this file:
#   _base_ = ["mmdet::_base_/models/faster-rcnn_r50_fpn.py", "../_base_/vindr_detection.py"]
# and sets model.data_preprocessor = _base_.data_preprocessor and the head's num_classes = _base_.num_classes.
#
# Intensity. `convert --bit-depth 16` writes min-max normalised 16-bit PNGs (0..65535), read as they are by
# cxrdet.LoadGreyImageFromFile (mmcv's default read would cut them to 8 bits). A 16-bit value v is the 8-bit
# value v / 257, so the data_preprocessor below uses ImageNet's 8-bit mean/std times 257: a backbone
# pretrained on ImageNet (RGB, 8 bits) sees inputs normalised exactly as in its training. The 3 channels are
# identical grey copies (no bgr_to_rgb needed). For 8-bit PNGs (`--bit-depth 8`) use data_preprocessor_8bit.
# For a 1-channel model trained from scratch use data_preprocessor_grey1 with LoadGreyImageFromFile(channels=1)
# and backbone in_channels=1: mean 32767.5 and std 16383.75 map 0..65535 to [-2, 2].
#
# Nothing is downloaded: detector configs set every backbone init_cfg / pretrained to None. Start from
# weights you copied here with --cfg-options model.backbone.init_cfg.type=Pretrained
# model.backbone.init_cfg.checkpoint=LOCAL_FILE (ImageNet) or load_from=LOCAL_FILE (a COCO detector).
_base_ = ["mmdet::_base_/default_runtime.py", "mmdet::_base_/schedules/schedule_1x.py"]

engine = "mmdet"  # cxrdet train | test | predict pick the engine from this key
default_scope = "mmdet"  # mmdet's components by plain name; cxrdet's as type='cxrdet.Name'
custom_imports = dict(
    imports=["cxrdet.datasets", "cxrdet.evaluation.metric", "cxrdet.models", "cxrdet.models.scratch_warning"],
    allow_failed_imports=False,
)

data_root = "data/vindr_1024/"  # a `cxrdet convert` output folder
dataset_type = "cxrdet.VinDrCocoDataset"  # classes (and palette) from data_root/classes.json
num_classes = 14  # VinDr's findings ("No finding" is image-level, not a detector class); set to the data's
image_size = 1024  # PNGs are written with longest side --size; Resize keeps the ratio
backend_args = None

imagenet_mean_8bit = [123.675, 116.28, 103.53]
imagenet_std_8bit = [58.395, 57.12, 57.375]
data_preprocessor = dict(  # 16-bit PNGs, 3 grey channels, ImageNet statistics on the 16-bit scale
    type="DetDataPreprocessor",
    mean=[round(m * 257, 3) for m in imagenet_mean_8bit],
    std=[round(s * 257, 3) for s in imagenet_std_8bit],
    bgr_to_rgb=False,
    pad_size_divisor=32,
)
data_preprocessor_8bit = dict(
    type="DetDataPreprocessor", mean=imagenet_mean_8bit, std=imagenet_std_8bit, bgr_to_rgb=False, pad_size_divisor=32
)
data_preprocessor_grey1 = dict(  # 16-bit PNGs, 1 channel, from scratch: 0..65535 -> [-2, 2]
    type="DetDataPreprocessor", mean=[32767.5], std=[16383.75], bgr_to_rgb=False, pad_size_divisor=32
)

meta_keys = ("img_id", "img_path", "ori_shape", "img_shape", "scale_factor", "flip", "flip_direction", "original_shape")
train_pipeline = [
    dict(type="cxrdet.LoadGreyImageFromFile", channels=3),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Resize", scale=(image_size, image_size), keep_ratio=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackDetInputs", meta_keys=meta_keys),
]
test_pipeline = [
    dict(type="cxrdet.LoadGreyImageFromFile", channels=3),
    dict(type="Resize", scale=(image_size, image_size), keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True),  # after Resize: GT stays in the PNG frame, like predictions
    dict(type="PackDetInputs", meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    batch_sampler=dict(type="AspectRatioBatchSampler"),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file="coco/fold0_train.json",  # cxrdet train --fold K sets foldK's files
        data_prefix=dict(img="images/"),
        filter_cfg=dict(filter_empty_gt=False),  # normal images stay as negatives
        pipeline=train_pipeline,
        backend_args=backend_args,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file="coco/fold0_val.json",
        data_prefix=dict(img="images/"),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)
test_dataloader = val_dataloader  # the fold's held-out images (out-of-fold predictions)

# VinDr mAP@0.4 (VOC 2010 all-point) in ORIGINAL DICOM pixels; it picks the best checkpoint
val_evaluator = dict(type="cxrdet.VinDrMetric", iou_thr=0.4, classwise=True)
test_evaluator = val_evaluator

default_hooks = dict(
    checkpoint=dict(type="CheckpointHook", interval=1, max_keep_ckpts=3, save_best="vindr/mAP", rule="greater"),
    logger=dict(type="LoggerHook", interval=50),
)
custom_hooks = [dict(type="cxrdet.ScratchWarningHook")]  # a WARNING when no weights are loaded
randomness = dict(seed=0)
