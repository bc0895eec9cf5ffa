"""YOLO engine, geometry: Ultralytics' letterbox of one image and its inverse (canvas -> image pixels).

Mirrors ``ultralytics.data.augment.LetterBox`` and ``ultralytics.utils.ops.scale_boxes`` without importing
Ultralytics, so decoding workers stay light.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # Ultralytics' letterbox grey


@dataclass(frozen=True)
class Letterbox:
    """Ultralytics' letterbox of one image: resize to ``new_height x new_width``, paste at ``(left, top)``.

    Mirrors ``ultralytics.data.augment.LetterBox(imgsz, auto=..., center=True, stride=...)`` (what its
    predictor does), and the inverse mirrors ``ultralytics.utils.ops.scale_boxes`` with separate x/y gains.
    """

    height: int
    width: int
    new_height: int
    new_width: int
    top: int
    left: int
    canvas_height: int
    canvas_width: int

    @classmethod
    def fit(cls, height: int, width: int, imgsz: int, stride: int = 32, auto: bool = True) -> Letterbox:
        """Letterbox of a ``height x width`` image into ``imgsz`` (``auto``: pad only to a multiple of ``stride``)."""
        r = min(imgsz / height, imgsz / width)
        new_w, new_h = max(round(width * r), 1), max(round(height * r), 1)
        dw, dh = imgsz - new_w, imgsz - new_h
        if auto:
            dw, dh = dw % stride, dh % stride
        dw, dh = dw / 2, dh / 2
        top, bottom = round(dh - 0.1), round(dh + 0.1)
        left, right = round(dw - 0.1), round(dw + 0.1)
        return cls(height, width, new_h, new_w, top, left, top + new_h + bottom, left + new_w + right)

    @property
    def gains(self) -> np.ndarray:
        gx, gy = self.new_width / self.width, self.new_height / self.height
        return np.array([gx, gy, gx, gy])

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Resize (bilinear, as Ultralytics) and pad with grey 114 to ``canvas_height x canvas_width``."""
        if image.shape[:2] != (self.new_height, self.new_width):
            image = cv2.resize(image, (self.new_width, self.new_height), interpolation=cv2.INTER_LINEAR)
        bottom = self.canvas_height - self.top - self.new_height
        right = self.canvas_width - self.left - self.new_width
        return cv2.copyMakeBorder(
            image, self.top, bottom, self.left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
        )

    def boxes_to_source(self, boxes) -> np.ndarray:
        """xyxy boxes on the canvas -> the letterboxed image's own pixels, clipped to it."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        out = (boxes - np.array([self.left, self.top, self.left, self.top])) / self.gains
        return np.clip(out, 0, [self.width, self.height, self.width, self.height])

    def hflipped(self, canvas_width: int) -> Letterbox:
        """The letterbox of the mirrored image inside a canvas ``canvas_width`` wide that was flipped as a whole."""
        return Letterbox(
            self.height,
            self.width,
            self.new_height,
            self.new_width,
            self.top,
            canvas_width - self.left - self.new_width,
            self.canvas_height,
            canvas_width,
        )
