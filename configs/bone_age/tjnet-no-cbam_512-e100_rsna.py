# TJ-Net ablation without CBAM: the full recipe (tjnet_512-e100_rsna.py) with the three CBAMs of blocks 1-3
# replaced by identities (model.use_cbam=False); everything else the same. The write-up compares the two by
# block 4's activation maps (`cxrdet explain`) and the MAD. 3,560,494 parameters (the full model's 3,572,538 less
# the three CBAMs' 12,044).
_base_ = ["./_base_/tjnet.py"]

model = dict(use_cbam=False)
