# GAIN-ResNet-50 (the write-up's): timm's ResNet-50 without its pooling and classifier (global_pool='': the last
# conv map, 2048 x 7 x 7 at 224 px, is both what the head pools and what the attention explains), FC 2048 -> 2.
# The write-up fine-tunes ImageNet weights; nothing is downloaded here: by default the network starts from random
# weights, or give a local timm state dict: --cfg-options model.backbone.pretrained=weights/resnet50.pth.
# 23.5 M backbone parameters (+ 4,098 in the head). Adam 1e-3, batch 4, 80 epochs, 224 x 224 (the base's).
_base_ = ["./_base_/gain_gastric.py"]

model = dict(
    backbone=dict(type="TimmBackbone", model_name="resnet50", in_chans=3, pretrained=None, global_pool=""),
    head=dict(type="ClsHead", in_features=2048, num_classes=2),
)
