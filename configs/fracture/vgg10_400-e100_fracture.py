# VGG, 10 conv layers (the write-up's second VGG: train 0.71 / val 0.72 at epoch 83 of 100).
# Design: the first 10 convolutions of VGG-16 (Simonyan & Zisserman, configuration D up to conv4_3): stages of
# 64, 64 | 128, 128 | 256, 256, 256 | 512, 512, 512 channels (3x3, padding 1, bias, ReLU, no BatchNorm), a 2x2
# max-pool after each stage (400 -> 25), adaptive average pool to 2 x 2 -> 2,048 features -> FC 2.
# Parameters (1 x 400 x 400, 2 classes): 7,638,210 measured; the seed's: 7,638,210 (exact: 7,634,112 in the
# convolutions + 4,098 in the FC; the seed's count identifies this design).
_base_ = ["./_base_/fracture.py"]

model = dict(
    backbone=dict(
        type="VGG",
        in_channels=1,
        stage_widths=[64, 128, 256, 512],
        convs_per_stage=[2, 2, 3, 3],
        norm=False,
        out="avg",
        avg_size=2,
    ),
    head=dict(type="ClsHead", in_features=2048, num_classes=2),
)
train_cfg = dict(max_epochs=100)
