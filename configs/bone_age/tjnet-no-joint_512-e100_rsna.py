# TJ-Net ablation without joint sex learning: the full recipe (tjnet_512-e100_rsna.py) without block 5's sex
# head and loss (model.joint=False). Block 6 still receives the sex as an input, from the label (RSNA `male`);
# an image of unknown sex gets 0.5. pred_male is NaN (there is no sex prediction), so bone_age/sex_accuracy is
# NaN here. The write-up compares the error distributions of the two (the metric's age-group plot).
# 3,342,649 parameters (the full model's 3,572,538 less block 5's 229,889).
_base_ = ["./_base_/tjnet.py"]

model = dict(joint=False)
