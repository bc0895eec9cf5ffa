"""Registered models (cxrdet's MODELS registry): one component a file, each also usable in plain Python.

Where they will live: ``blocks/`` (CBAM, ASPP, Inception-ResNet), TJ-Net, fracture CNNs, GAIN, CA-U-Net,
the feature GAN and EfficientDet parts (BiFPN, head) registered for MMDetection. Importing this package
registers whatever it holds; it is the ``locations`` entry of :data:`cxrdet.registry.MODELS`.
"""

from cxrdet.models import efficientdet  # noqa: F401  (registers cxrdet.EfficientDet, BiFPN, EfficientDetHead)
