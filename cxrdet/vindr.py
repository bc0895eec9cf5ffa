"""VinBigData / VinDr-CXR constants (the default :data:`cxrdet.structures.VINDR` metainfo) and its label CSV columns."""

from cxrdet.structures.boxes import BOX_COLUMNS
from cxrdet.structures.metainfo import NO_FINDING_BOX, VINDR

CLASS_NAMES: tuple[str, ...] = VINDR.classes
NO_FINDING: int = 14
"""Class id of "No finding"; scored as an ordinary class whose ground-truth box is [0, 0, 1, 1]."""
NUM_CLASSES: int = VINDR.num_classes  # 15, the metric's classes
NUM_FINDING_CLASSES: int = NO_FINDING  # 14, what a detector is trained on

LABEL_COLUMNS: tuple[str, ...] = (
    "image_id",
    "class_name",
    "class_id",
    "rad_id",
    "x_min",
    "y_min",
    "x_max",
    "y_max",
)
"""Columns of the competition's train.csv: one row per box per radiologist."""

__all__ = [
    "BOX_COLUMNS",
    "CLASS_NAMES",
    "LABEL_COLUMNS",
    "NO_FINDING",
    "NO_FINDING_BOX",
    "NUM_CLASSES",
    "NUM_FINDING_CLASSES",
]
