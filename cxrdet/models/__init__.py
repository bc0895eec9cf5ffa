"""Registered models (cxrdet's MODELS registry): one component a file, each also usable in plain Python.

``blocks/`` (CBAM, Inception-ResNet modules), ``bone_age/`` (TJ-Net), ``classifiers/`` (the image classifier
with its heads and backbones: AlexNet, VGG, ResNet of the fracture write-up, timm backbones), ``efficientdet/``
(BiFPN, head) registered for MMDetection; :mod:`.gradcam` (Grad-CAM, CBAM maps) serves ``cxrdet explain``.
Importing this package registers them; it is the ``locations`` entry of :data:`cxrdet.registry.MODELS`.
"""

# Importing the subpackages registers their components: cxrdet's custom models, and EfficientDet's parts
# (cxrdet.EfficientDet, BiFPN, EfficientDetHead) for mmdet configs.
from cxrdet.models import blocks, bone_age, classifiers, efficientdet, feature_gan, gain, segmentation  # noqa: F401
