# ResNet, 25 conv layers + 1 FC (the write-up's "ResNet26": train 0.87 / val 0.67 at epoch 9 of 20).
# Design (the write-up gives only the layer counts and 3,152,370 parameters): a 7x7 stride-2 stem conv (32) + BN +
# ReLU + 3x3/2 max-pool, then 4 stages of 3 BasicBlocks (two 3x3 conv + BN each) with 32, 64, 128, 200 channels
# (stride 2 at the first block of stages 2-4), global average pool, FC 2. Conv count: 1 stem + 12 blocks x 2 = 25;
# the three 1x1 projection shortcuts (conv + BN, where the width/stride changes) are not counted, as in the ResNet
# paper's layer names. No plain doubling design lands within 1% (32-64-128-256 with 3 blocks a stage: 4.37 M).
# Parameters (1 x 400 x 400, 2 classes): 3,143,202 measured; the seed's: 3,152,370 (-9,168, -0.29%).
_base_ = ["./_base_/fracture.py"]

model = dict(
    backbone=dict(
        type="ResNet",
        in_channels=1,
        stem_channels=32,
        stem_kernel=7,
        stem_stride=2,
        stem_pool=True,
        stage_widths=[32, 64, 128, 200],
        blocks_per_stage=[3, 3, 3, 3],
    ),
    head=dict(type="ClsHead", in_features=200, num_classes=2),
)
train_cfg = dict(max_epochs=20)
