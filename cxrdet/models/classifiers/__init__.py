"""Image classifiers on mmengine's Runner: the fracture CNNs (AlexNet, VGG, ResNet) and the VinDr classifier.

:class:`ImageClassifier` (backbone -> optional neck -> :class:`ClsHead`) is the model of ``configs/fracture/``
and ``configs/classifier/``; its backbones are the seed's hand-written CNNs (:class:`AlexNet`, :class:`VGG`,
:class:`ResNet`) and timm's standard networks (:class:`TimmBackbone`). Importing this package registers them
all in :data:`cxrdet.registry.MODELS`.
"""

from cxrdet.models.classifiers.alexnet import AlexNet
from cxrdet.models.classifiers.cls_head import ClsHead
from cxrdet.models.classifiers.image_classifier import ImageClassifier
from cxrdet.models.classifiers.resnet import BasicBlock, ResNet
from cxrdet.models.classifiers.timm_backbone import TimmBackbone
from cxrdet.models.classifiers.vgg import VGG

__all__ = ["VGG", "AlexNet", "BasicBlock", "ClsHead", "ImageClassifier", "ResNet", "TimmBackbone"]
