# Faster R-CNN ResNet-50 FPN at 1024 px, 12 epochs (mmdet's 1x): the 1st place's MMDetection baseline on VinDr-CXR.
#
# mmdet's own model (mmdet::_base_/models/faster-rcnn_r50_fpn.py) with VinDr's data, metric and runtime.
# Nothing is downloaded: the backbone starts from random weights unless you give local ones, and the log
# then says "training from scratch". With weights you copied here:
#   ImageNet backbone: --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=r50.pth
#   (torchvision's resnet50-0676ba61.pth)
#   COCO detector:     --cfg-options load_from=faster_rcnn_r50_fpn_1x_coco.pth
# From scratch instead, unfreeze the stem and BN: model.backbone.frozen_stages=-1 model.backbone.norm_eval=False
_base_ = ["mmdet::_base_/models/faster-rcnn_r50_fpn.py", "./_base_/vindr_detection.py"]

model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(init_cfg=None),
    roi_head=dict(bbox_head=dict(num_classes=_base_.num_classes)),
)
