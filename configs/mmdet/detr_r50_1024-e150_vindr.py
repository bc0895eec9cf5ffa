# DETR ResNet-50 at 1024 px, 150 epochs (mmdet's detr_r50_8xb2-150e recipe: AdamW 1e-4, backbone lr x0.1).
#
# Plain DETR converges slowly and is known to reach mAP 0 on data sets of a few thousand images: prefer
# dino-4scale_r50_1024-e12_vindr.py; this config is here for comparison and for COCO-pretrained fine-tuning.
# mmengine allows no two _base_ files defining the same keys, and mmdet ships DETR only inside a full COCO
# config, so the model and optimiser are read from mmdet's own file (mmdet::detr/detr_r50_8xb2-150e_coco.py).
# Nothing is downloaded: the backbone starts from random weights unless you give local ones (the log says
# "training from scratch"). With weights you copied here:
#   ImageNet backbone: --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=r50.pth
#   COCO detector:     --cfg-options load_from=detr_r50_8xb2-150e_coco.pth
_base_ = ["./_base_/vindr_detection.py"]
import cxrdet.models.mmdet_sections as mmdet_sections  # noqa: E402 (a module: mmengine keeps no key for it)

model = mmdet_sections.section(
    "mmdet::detr/detr_r50_8xb2-150e_coco.py",
    "model",
    data_preprocessor=dict(_base_.data_preprocessor, pad_size_divisor=1),
    backbone=dict(init_cfg=None),
    bbox_head=dict(num_classes=_base_.num_classes),
)
optim_wrapper = dict(_delete_=True, **mmdet_sections.section("mmdet::detr/detr_r50_8xb2-150e_coco.py", "optim_wrapper"))
max_epochs = 150
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [dict(type="MultiStepLR", begin=0, end=max_epochs, by_epoch=True, milestones=[100], gamma=0.1)]
