# Feature GAN step 2: generator, discriminator and classifier trained together on the extractor's features
# (the write-up's 61.7% after 56.8%). FeatureGAN (cxrdet/models/feature_gan/feature_gan.py): the frozen extractor
# rows 2-15 give real 512 x 10 x 10 features, scaled per channel to [-1, 1] by step 1's training-set minimum and
# maximum (FeatureStatsHook computes them once before training; stored in the checkpoint); the generator (100-d
# noise times a learned class embedding -> dense 2,048 -> deconvs 5x5 to 2,048 x 1 x 1, 1,024 x 5 x 5,
# 512 x 10 x 10, 512 x 10 x 10, Tanh) and the projection-conditioned discriminator (conv 5x5 512-1,024-2,048,
# FC 1,024-64-1) work in that scaled space; the classifier (rows 16-23 with an average pool at row 19,
# initialised from step 1) sees unscaled features: generated ones every 2 steps, real ones every 5; its BatchNorms
# run in training mode on the real ones and keep their statistics on the generated ones (classifier_bn='real').
# Optimisers (OptimWrapperDict): the write-up's lrs G 1e-3, D 1e-4, C 1e-7, Adam (betas 0.5/0.999 for G and D,
# DCGAN's; the write-up names no optimiser), batch 40. Epochs: the write-up gives none; 20 here.
#   cxrdet train configs/feature_gan/feature-gan_160_chexpert.py --data-root DATA \
#       --cfg-options model.extractor_checkpoint=work_dirs/extractor_160-e50_chexpert/all/best_cls_balanced_accuracy_epoch_N.pth
#   cxrdet test  configs/feature_gan/feature-gan_160_chexpert.py CHECKPOINT --data-root DATA
# Parameters: 322,548,325 in all (generator 177,162,840, discriminator 80,553,537, classifier 61,619,212, frozen
# extractor rows 2-15 3,212,736; measured).
_base_ = ["./_base_/chexpert.py"]

num_classes = 6
width = 1.0
model = dict(
    type="FeatureGAN",
    extractor=dict(type="GanFeatureExtractor", in_channels=3, width=width, input_size=160),
    head=dict(type="FeatureGanHead", in_features=12800, num_classes=num_classes, hidden_dims=[4096, 512]),
    generator=dict(type="FeatureGenerator", noise_dim=100, hidden_channels=[2048, 1024], width=width),
    discriminator=dict(type="FeatureDiscriminator", channels=[512, 1024, 2048], fc_dims=[1024, 64], width=width),
    extractor_checkpoint=None,  # step 1's checkpoint: --cfg-options model.extractor_checkpoint=PATH
    fake_every=2,
    real_every=5,
    g_cls_weight=1.0,
    classifier_bn="real",
)
optim_wrapper = dict(
    constructor="FeatureGanOptimWrapperConstructor",
    generator=dict(type="cxrdet.LateZeroGradOptimWrapper", optimizer=dict(type="Adam", lr=1e-3, betas=(0.5, 0.999))),
    discriminator=dict(
        type="cxrdet.LateZeroGradOptimWrapper", optimizer=dict(type="Adam", lr=1e-4, betas=(0.5, 0.999))
    ),
    classifier=dict(type="cxrdet.LateZeroGradOptimWrapper", optimizer=dict(type="Adam", lr=1e-7, betas=(0.9, 0.999))),
)
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
custom_hooks = [dict(type="FeatureStatsHook")]
