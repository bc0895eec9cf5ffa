# DetectoRS: Cascade R-CNN ResNet-50 with RFP + Switchable Atrous Convolution (SAC) at 1024 px, 12 epochs.
#
# mmdet's own Cascade R-CNN (mmdet::_base_/models/cascade-rcnn_r50_fpn.py) with the backbone and neck of
# mmdet::detectors/detectors_cascade-rcnn_r50_1x_coco.py (SAC with deformable offsets in stages 2-4, RFP).
# Nothing is downloaded: both backbones start from random weights unless you give local ones (the log says
# "training from scratch"). With weights you copied here:
#   ImageNet: --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=r50.pth
#             model.neck.rfp_backbone.pretrained=r50.pth
#   COCO detector: --cfg-options load_from=detectors_cascade_rcnn_r50_1x_coco.pth
_base_ = ["mmdet::_base_/models/cascade-rcnn_r50_fpn.py", "./_base_/vindr_detection.py"]

sac = dict(type="SAC", use_deform=True)
stage_with_sac = (False, True, True, True)
model = dict(
    data_preprocessor=_base_.data_preprocessor,
    backbone=dict(
        type="DetectoRS_ResNet",
        conv_cfg=dict(type="ConvAWS"),
        sac=sac,
        stage_with_sac=stage_with_sac,
        output_img=True,
        init_cfg=None,
    ),
    neck=dict(
        type="RFP",
        rfp_steps=2,
        aspp_out_channels=64,
        aspp_dilations=(1, 3, 6, 1),
        rfp_backbone=dict(
            rfp_inplanes=256,
            type="DetectoRS_ResNet",
            depth=50,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            frozen_stages=1,
            norm_cfg=dict(type="BN", requires_grad=True),
            norm_eval=True,
            conv_cfg=dict(type="ConvAWS"),
            sac=sac,
            stage_with_sac=stage_with_sac,
            pretrained=None,  # mmdet: 'torchvision://resnet50' (a download)
            style="pytorch",
        ),
    ),
    roi_head=dict(bbox_head=[dict(head, num_classes=_base_.num_classes) for head in _base_.model.roi_head.bbox_head]),
)
