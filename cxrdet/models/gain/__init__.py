"""GAIN: a classifier whose Grad-CAM attention is supervised by lesion masks (issue 11; configs/gain/).

:class:`GAINClassifier` (registered in :data:`cxrdet.registry.MODELS`) and its differentiable attention
(:func:`grad_cam_attention`, :func:`erase`).
"""

from cxrdet.models.gain.attention import erase, grad_cam_attention
from cxrdet.models.gain.gain_classifier import GAINClassifier

__all__ = ["GAINClassifier", "erase", "grad_cam_attention"]
