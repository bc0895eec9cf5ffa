"""The neutral data contract every stage speaks: boxes in ORIGINAL pixels, their one value check, dataset metainfo.

Boxes are always ``x_min, y_min, x_max, y_max`` in ORIGINAL image pixels (the DICOM's rows/columns),
continuous coordinates. Engines (ultralytics, mmdet) convert to these at their edge; io, ensembling,
evaluation and submission only ever see these types. This package imports nothing else of cxrdet.
"""

from cxrdet.structures.boxes import (
    BOX_COLUMNS,
    PRED_COLUMNS,
    SIZE_COLUMNS,
    BoxTable,
    Detections,
    GroundTruth,
    images_frame,
)
from cxrdet.structures.checks import MAX_PIXELS, box_problems
from cxrdet.structures.metainfo import NO_FINDING_BOX, VINDR, VINDR_CLASSES, DatasetMeta

__all__ = [
    "BOX_COLUMNS",
    "MAX_PIXELS",
    "NO_FINDING_BOX",
    "PRED_COLUMNS",
    "SIZE_COLUMNS",
    "VINDR",
    "VINDR_CLASSES",
    "BoxTable",
    "DatasetMeta",
    "Detections",
    "GroundTruth",
    "box_problems",
    "images_frame",
]
