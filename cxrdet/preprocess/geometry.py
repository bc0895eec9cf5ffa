"""Resizing with a recorded transform, so boxes map to the resized frame and exactly back to DICOM pixels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Resize:
    """An axis-aligned scaling from an original image (DICOM pixels) to a resized one.

    ``resized_x = original_x * scale_x`` (continuous coordinates, pixel edges at integers), and the inverse
    divides; the scales are exactly ``width / original_width`` and ``height / original_height``.
    """

    original_height: int
    original_width: int
    height: int
    width: int

    @property
    def scale_x(self) -> float:
        return self.width / self.original_width

    @property
    def scale_y(self) -> float:
        return self.height / self.original_height

    @classmethod
    def longest_side(cls, height: int, width: int, size: int) -> Resize:
        """Scale so that the longer side becomes ``size`` (0 keeps the original size)."""
        if size <= 0 or max(height, width) == size:
            return cls(height, width, height, width)
        factor = size / max(height, width)
        return cls(height, width, max(1, round(height * factor)), max(1, round(width * factor)))

    def _scales(self, boxes: np.ndarray) -> np.ndarray:
        return np.array([self.scale_x, self.scale_y, self.scale_x, self.scale_y], dtype=np.float64)

    def boxes_to_resized(self, boxes) -> np.ndarray:
        """xyxy boxes in original pixels -> resized-image pixels."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        return boxes * self._scales(boxes)

    def boxes_to_original(self, boxes) -> np.ndarray:
        """xyxy boxes in resized-image pixels -> original (DICOM) pixels."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        return boxes / self._scales(boxes)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Resize an image: INTER_AREA when shrinking (no aliasing), INTER_LINEAR when enlarging."""
        if (self.height, self.width) == image.shape[:2]:
            return image
        shrinking = self.height < image.shape[0] or self.width < image.shape[1]
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        return cv2.resize(image, (self.width, self.height), interpolation=interpolation)
