"""Framework-free data contract shared by every stage: image metadata, detections and ground truth.

Boxes are always ``x_min, y_min, x_max, y_max`` in ORIGINAL image pixels (the DICOM's rows/columns),
continuous coordinates. Engines (ultralytics, mmdet) convert to these at their edge; ensembling,
evaluation and submission only ever see these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ImageMeta:
    """What is known about one image without its pixels.

    Attributes:
        image_id: file stem of the DICOM (the competition's ``image_id``).
        height: original rows.
        width: original columns.
        sex: "M", "F", "O" or None.
        age_years: patient age in years (fractional for months/weeks/days), or None.
    """

    image_id: str
    height: int
    width: int
    sex: str | None = None
    age_years: float | None = None


def _as_boxes(boxes) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


@dataclass
class Detections:
    """Boxes predicted for one image.

    Attributes:
        image_id: the image.
        boxes: (N, 4) float64 xyxy in original pixels.
        scores: (N,) float64 confidences in [0, 1].
        labels: (N,) int64 class ids.
    """

    image_id: str
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        self.boxes = _as_boxes(self.boxes)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        n = len(self.boxes)
        if len(self.scores) != n or len(self.labels) != n:
            raise ValueError(
                f"{self.image_id}: {n} boxes but {len(self.scores)} scores and {len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass
class GroundTruth:
    """Annotated boxes of one image (already fused across readers, or one row per reader).

    Attributes:
        image_id: the image.
        boxes: (N, 4) float64 xyxy in original pixels.
        labels: (N,) int64 class ids.
    """

    image_id: str
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        self.boxes = _as_boxes(self.boxes)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if len(self.labels) != len(self.boxes):
            raise ValueError(f"{self.image_id}: {len(self.boxes)} boxes but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.boxes)
