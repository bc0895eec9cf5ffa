# Plain U-Net (the write-up's baseline of the ablation): base 64 channels, 4 poolings, batch norm, no attention,
# no ASPP. 31,037,698 parameters (3 x 256 x 256 input, 2 classes; measured).
_base_ = ["./_base_/gastric_segmentation.py"]

model = dict(cbam=False, aspp=False)
