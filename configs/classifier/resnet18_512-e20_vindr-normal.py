# VinDr normal/abnormal classifier: ResNet-18 (timm `resnet18`) at 512 x 512, grey 1 channel, 20 epochs, best by val
# AUC: a smaller alternative to the EfficientNet-B5 (11.2 M parameters against 28.3 M), batch 16.
# Parameters (1 channel, 2 classes): 11,171,266 measured (timm's trunk 11,170,240 + FC 512 -> 2).
# Pretrained weights: none (never downloaded); a local file as in efficientnet-b5_512-e20_vindr-normal.py:
#   --cfg-options model.backbone.pretrained=weights/resnet18.pth
_base_ = ["./_base_/vindr_classifier.py"]

batch_size = 16
train_dataloader = dict(batch_size=batch_size)
val_dataloader = dict(batch_size=batch_size)
test_dataloader = val_dataloader
model = dict(
    backbone=dict(type="TimmBackbone", model_name="resnet18", in_chans=1, pretrained=None, drop_rate=0.2),
    head=dict(type="ClsHead", in_features=512, num_classes=2),
)
