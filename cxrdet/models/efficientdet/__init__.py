"""EfficientDet for MMDetection (not in the mmdet wheel: mmdet keeps it in ``projects/``), registered in cxrdet.

Configs in mmdet's scope build ``cxrdet.EfficientDet``, ``cxrdet.BiFPN``, ``cxrdet.EfficientDetHead`` and the
TF SAME-padding conv ``cxrdet.Conv2dSamePadding`` (the backbone is mmdet's own ``EfficientNet``).
"""

from cxrdet.models.efficientdet.bifpn import BiFPN
from cxrdet.models.efficientdet.bifpn_layer import BiFPNLayer, BiFPNNode
from cxrdet.models.efficientdet.detector import EfficientDet
from cxrdet.models.efficientdet.fusion import FastNormalizedFusion
from cxrdet.models.efficientdet.head import EfficientDetHead
from cxrdet.models.efficientdet.same_padding import Conv2dSamePadding, MaxPool2dSamePadding, same_padding
from cxrdet.models.efficientdet.separable_conv import SeparableConv

__all__ = [
    "BiFPN",
    "BiFPNLayer",
    "BiFPNNode",
    "Conv2dSamePadding",
    "EfficientDet",
    "EfficientDetHead",
    "FastNormalizedFusion",
    "MaxPool2dSamePadding",
    "SeparableConv",
    "same_padding",
]
