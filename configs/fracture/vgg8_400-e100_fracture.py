# VGG, 8 conv layers (the write-up's baseline: train 0.73 / val 0.72 at epoch 65 of 100).
# Design (the write-up gives only the conv count and 395,634 parameters; no plain doubling design has exactly
# that count): the 10-conv design's family at narrower widths, stages of 8, 8 | 16 | 32 | 64 | 128, 128, 128
# channels (3x3, padding 1, bias, ReLU, no BatchNorm), a 2x2 max-pool after each stage (400 -> 12), adaptive
# average pool to 2 x 2 -> 512 features -> FC 2.
# Parameters (1 x 400 x 400, 2 classes): 395,018 measured; the seed's: 395,634 (-616, -0.16%).
_base_ = ["./_base_/fracture.py"]

model = dict(
    backbone=dict(
        type="VGG",
        in_channels=1,
        stage_widths=[8, 16, 32, 64, 128],
        convs_per_stage=[2, 1, 1, 1, 3],
        norm=False,
        out="avg",
        avg_size=2,
    ),
    head=dict(type="ClsHead", in_features=512, num_classes=2),
)
train_cfg = dict(max_epochs=100)
