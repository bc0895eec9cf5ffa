# EfficientDet-D0 at 512 px, 300 epochs on VinDr-CXR: EfficientNet-B0, BiFPN 64 channels x 3 stages, head 3 layers.
#
# The model and the paper's recipe are in _base_/efficientdet.py (read its header: optimiser, schedule, how
# to start from a local ImageNet EfficientNet-B0 file; nothing is downloaded, so by default it trains from
# scratch and says so in the log). 3.9 M parameters with COCO's 90 classes (the paper's figure).
#   cxrdet train configs/mmdet/efficientdet-d0_512-e300_vindr.py --data-root data/vindr_1024 --all-folds
_base_ = ["./_base_/efficientdet.py"]
