# U-Net + ASPP: after the 1024-channel bottleneck (16 x 16 at 256 px), a 1x1 branch, atrous 3x3 branches at rates
# 6/12/18 and image pooling, 256 channels each (DeepLab's), projected back to 1024. 39,954,946 parameters (measured).
_base_ = ["./_base_/gastric_segmentation.py"]

model = dict(cbam=False, aspp=True, aspp_rates=(6, 12, 18))
