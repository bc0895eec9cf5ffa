# AlexNet, dropout 0.8, L2 lambda 1e-4 (the write-up: train 0.95 / val 0.85 at epoch 74 of 100, the best val accuracy).
# The seed's final-model layout: Conv1 96 (11x11 s4 p1) -> ReLU -> MaxPool 3/2 -> BN -> Conv2 256 (5x5 p2) -> ReLU ->
# MaxPool -> BN -> Conv3 384 -> Conv4 384 -> Conv5 256 (3x3 p1, ReLU each) -> MaxPool -> Flatten (30,976) ->
# Dropout -> FC 4096 -> ReLU -> Dropout -> FC 4096 -> ReLU -> FC 2.
# Parameters (1 x 400 x 400, 2 classes): 147,395,970 measured; the seed's: 147,395,970 (every layer's output
# shape and count equal the seed's table: tests/models/test_fracture_cnns.py).
_base_ = ["./_base_/fracture.py"]

model = dict(
    backbone=dict(type="AlexNet", in_channels=1, widths=[96, 256, 384, 384, 256], norm=True, flatten=True),
    head=dict(type="ClsHead", in_features=30976, num_classes=2, hidden_dims=[4096, 4096], dropout=0.8),
)
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
train_cfg = dict(max_epochs=100)
