# CA-U-Net (the write-up's model: PA and IoU 0.64 on its EGC images): U-Net + CBAM after each encoder stage + ASPP
# (rates 6/12/18, image pooling without batch norm so batch 1 trains) at the bottleneck. 40,000,402 parameters
# (measured).
_base_ = ["./_base_/gastric_segmentation.py"]

model = dict(cbam=True, aspp=True, aspp_rates=(6, 12, 18))
