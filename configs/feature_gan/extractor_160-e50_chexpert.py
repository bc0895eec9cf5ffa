# Feature GAN step 1: the write-up's extractor CNN trained on the imbalanced set (its baseline, 56.8% accuracy).
# Rows 2-19 (GanFeatureExtractor: 3x3 conv + BN + LeakyReLU, 2x2 max pools, the 512 x 10 x 10 feature after row
# 15) and rows 21-23 (FeatureGanHead: FC 4,096 - 512 - 6, BN + LeakyReLU); cross entropy; the write-up's best
# settings: lr 1e-4, batch 40, 50 epochs (optimiser not named: Adam). 64,831,948 parameters (3 x 160 x 160, 6
# classes; layer table: tests/models/test_feature_gan_models.py).
#   cxrdet train configs/feature_gan/extractor_160-e50_chexpert.py --data-root DATA
#   cxrdet test  configs/feature_gan/extractor_160-e50_chexpert.py work_dirs/.../best_cls_balanced_accuracy_*.pth
#       --data-root DATA      # accuracy, balanced accuracy, recall per class on the balanced test.csv
# Then step 2 (feature-gan_160_chexpert.py) starts from this run's best checkpoint.
_base_ = ["./_base_/chexpert.py"]

num_classes = 6
width = 1.0
model = dict(
    type="ImageClassifier",
    backbone=dict(type="GanFeatureExtractor", in_channels=3, width=width, input_size=160),
    head=dict(type="FeatureGanHead", in_features=12800, num_classes=num_classes, hidden_dims=[4096, 512]),
    log_accuracy=True,
)
optim_wrapper = dict(type="cxrdet.LateZeroGradOptimWrapper", optimizer=dict(type="Adam", lr=1e-4, betas=(0.9, 0.999)))
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
