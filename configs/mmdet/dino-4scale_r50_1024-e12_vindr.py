# DINO (4 scales) ResNet-50 at 1024 px, 12 epochs (mmdet's dino-4scale_r50_8xb2-12e recipe): the DETR-type
# detector that converges on small data sets (denoising queries, deformable attention, two-stage queries).
#
# mmengine allows no two _base_ files defining the same keys, and mmdet ships DINO only inside a full COCO
# config, so the model and optimiser are read from mmdet's own file (mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py).
# Nothing is downloaded: the backbone starts from random weights unless you give local ones (the log says
# "training from scratch"). With weights you copied here:
#   ImageNet backbone: --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=r50.pth
#   COCO detector:     --cfg-options load_from=dino-4scale_r50_8xb2-12e_coco.pth
_base_ = ["./_base_/vindr_detection.py"]
import cxrdet.models.mmdet_sections as mmdet_sections  # noqa: E402 (a module: mmengine keeps no key for it)

model = mmdet_sections.section(
    "mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py",
    "model",
    data_preprocessor=dict(_base_.data_preprocessor, pad_size_divisor=1),
    backbone=dict(init_cfg=None),
    bbox_head=dict(num_classes=_base_.num_classes),
)
optim_wrapper = dict(
    _delete_=True, **mmdet_sections.section("mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py", "optim_wrapper")
)
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [dict(type="MultiStepLR", begin=0, end=max_epochs, by_epoch=True, milestones=[11], gamma=0.1)]
