# U-Net + CBAM: a CBAM (channel gate r=16, then 7x7 spatial gate) after each of the 4 encoder stages, so the skip
# connections and the deeper stages get the attended features. 31,083,154 parameters (measured).
_base_ = ["./_base_/gastric_segmentation.py"]

model = dict(cbam=True, aspp=False)
