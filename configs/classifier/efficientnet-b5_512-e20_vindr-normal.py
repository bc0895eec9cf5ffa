# VinDr normal/abnormal classifier: EfficientNet-B5 (timm `efficientnet_b5`, the winners' backbone; they used
# B5/B6 for the "No finding" probability) at 512 x 512, grey 1 channel, 20 epochs, best checkpoint by val AUC.
# Parameters (1 channel, 2 classes): 28,344,018 measured (timm's B5 trunk 28,339,920 + FC 2048 -> 2: 4,098).
#
# Pretrained weights: none here (random init) and never downloaded. To start from ImageNet weights, save them once
# on a machine with internet:
#   python -c "import timm, torch; torch.save(timm.create_model('efficientnet_b5', pretrained=True).state_dict(), 'efficientnet_b5.pth')"
# copy the file here and give it: --cfg-options model.backbone.pretrained=weights/efficientnet_b5.pth
# (timm adapts the 3-channel stem to 1 channel by summing its weights over the RGB channels).
_base_ = ["./_base_/vindr_classifier.py"]

model = dict(
    backbone=dict(type="TimmBackbone", model_name="efficientnet_b5", in_chans=1, pretrained=None, drop_rate=0.4),
    head=dict(type="ClsHead", in_features=2048, num_classes=2),
)
