# Feature GAN step 1, CPU example: the extractor at 1/16 of the write-up's widths (4-32 channels, FC 256-32-6) on
# `cxrdet make-example --task imbalanced` (160 px grey phantoms, 3 majority classes x 60 and 3 minority x 6 in
# train.csv, a balanced test.csv), one input channel (the example's images are grey), batch 16, Adam 3e-3 (the
# full recipe's 1e-4 is for 65 M parameters and 50 epochs), 10 epochs. 254,416 parameters (measured).
# Measured (tests/engines/test_feature_gan_engine.py: 8 epochs on 40 images per majority class / 4 per minority
# class, 160 px, seed 0, one CPU thread; both steps and their tests 37 s on a lightly loaded 2-core machine, 143 s
# under load): balanced accuracy 0.608 on the balanced test.csv (chance
# 0.167); recall of the minority classes 0.40 (Atelectasis 0.40, Cardiomegaly 0.10, Consolidation 0.70) against
# 0.82 for the majority classes (Edema 0.60, No Finding 0.85, Pleural Effusion 1.00).
#   cxrdet make-example --task imbalanced -o example_imbalanced/
#   cxrdet train configs/feature_gan/extractor_example.py --data-root example_imbalanced/ -o work_dirs/fgan_step1
#   cxrdet test  configs/feature_gan/extractor_example.py work_dirs/fgan_step1/all/best_*.pth --data-root example_imbalanced/
_base_ = ["./extractor_160-e50_chexpert.py"]

width = 0.0625
batch_size = 16
pipeline = [
    dict(type="LoadMedicalImage", channels=1),
    dict(type="Resize", scale=(160, 160), keep_ratio=False),
    dict(type="PackMedicalInputs"),
]
train_dataloader = dict(batch_size=batch_size, num_workers=0, dataset=dict(pipeline=pipeline))
val_dataloader = dict(batch_size=batch_size, num_workers=0, dataset=dict(pipeline=pipeline))
test_dataloader = dict(batch_size=batch_size, num_workers=0, dataset=dict(pipeline=pipeline))
model = dict(
    data_preprocessor=dict(mean=[0.5], std=[0.25]),
    backbone=dict(in_channels=1, width=width),
    head=dict(in_features=800, hidden_dims=[256, 32]),
)
optim_wrapper = dict(optimizer=dict(lr=3e-3))
train_cfg = dict(max_epochs=10)
default_hooks = dict(logger=dict(interval=5))
