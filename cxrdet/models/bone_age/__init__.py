"""Bone-age assessment: TJ-Net (registered ``TJNet``, ``TJNetBackbone``), its heads and the 77 age classes.

Importing this package registers the models in cxrdet's MODELS (``cxrdet.models`` imports it).
"""

from cxrdet.models.bone_age.age_bins import (
    BIN_MONTHS,
    MAX_MONTHS,
    NUM_AGE_CLASSES,
    age_to_class,
    class_centres,
    expected_age,
)
from cxrdet.models.bone_age.model import TJNet
from cxrdet.models.bone_age.tjnet import TJNetBackbone, scaled_width
from cxrdet.models.bone_age.tjnet_heads import AgeHead, MultiScaleFusion, SexHead

__all__ = [
    "BIN_MONTHS",
    "MAX_MONTHS",
    "NUM_AGE_CLASSES",
    "AgeHead",
    "MultiScaleFusion",
    "SexHead",
    "TJNet",
    "TJNetBackbone",
    "age_to_class",
    "class_centres",
    "expected_age",
    "scaled_width",
]
