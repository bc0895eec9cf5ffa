# TJ-Net transfer recipe: start from a TJ-Net trained on RSNA and fine-tune on another hand data set in the RSNA
# layout (the write-up: Tongji hospital, 1,385 images) with blocks 1-3 frozen (model.frozen_blocks=3: no
# gradients, batch norm kept in eval mode with the RSNA statistics); block 4 and the heads train. The write-up's
# best transfer result (MAD 0.36 years) froze blocks 1-3. Trainable: 2,868,366 of 3,572,538 parameters.
#   cxrdet train configs/bone_age/tjnet-transfer_512-e50_rsna.py --data-root data/tongji \
#       --load-from work_dirs/tjnet_512-e100_rsna/best_bone_age_MAD_months_epoch_N.pth
# lr 1e-4 (a tenth of the full recipe's: fine-tuning), 50 epochs, divided by 10 at epochs 30 and 42.
_base_ = ["./_base_/tjnet.py"]

model = dict(frozen_blocks=3)
load_from = None  # no default: give --load-from LOCAL_CHECKPOINT (a TJ-Net checkpoint); nothing is downloaded

max_epochs = 50
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [dict(type="MultiStepLR", by_epoch=True, milestones=[30, 42], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
