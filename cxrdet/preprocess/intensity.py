"""Preprocessing, intensity: decoded DICOM stored values -> a min-max normalised 8- or 16-bit display image.

The exact stored value -> grey level table lives with the DICOM reader (:mod:`cxrdet.io.dicom_lut`); this
module only normalises and quantises it for the PNG cache and the detectors.
"""

from __future__ import annotations

import cv2
import numpy as np

from cxrdet.io.dicom_lut import GreyLut, grey_lut, lut_indices, present_range, stored_to_float

__all__ = ["GreyLut", "grey_lut", "stored_to_float", "to_display"]


def to_display(ds, stored: np.ndarray, *, bit_depth: int = 8, apply_voi: bool = True, voi_index: int = 0) -> np.ndarray:
    """Full-size display image: grey levels min-max normalised over the image to 0..2**bit_depth-1.

    Equivalent to the winning teams' recipe (``apply_voi_lut``, invert MONOCHROME1, subtract the min,
    divide by the max, scale) but rounded instead of truncated, and without float64 work on the image.
    A constant image becomes all zeros.

    Args:
        ds: the dataset (for its modality/VOI attributes).
        stored: the decoded stored values (``ds.pixel_array``).
        bit_depth: 8 (uint8) or 16 (uint16).
        apply_voi: apply the VOI LUT / window.
        voi_index: which window / VOI LUT.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    dtype, cv_depth = (np.uint8, cv2.CV_8U) if bit_depth == 8 else (np.uint16, cv2.CV_16U)
    maxval = float((1 << bit_depth) - 1)
    lut = grey_lut(ds, apply_voi=apply_voi, voi_index=voi_index)
    if lut is None:  # very deep data: plain float path
        grey = stored_to_float(ds, stored, apply_voi=apply_voi, voi_index=voi_index).astype(np.float64)
        lo, hi = float(grey.min()), float(grey.max())
        if hi <= lo:
            return np.zeros(stored.shape, dtype)
        return np.rint((grey - lo) * (maxval / (hi - lo))).astype(dtype)
    lo, hi = present_range(lut, stored)
    if hi <= lo:
        return np.zeros(stored.shape, dtype)
    scale = maxval / (hi - lo)
    if lut.affine is not None and stored.dtype in (np.uint8, np.uint16, np.int16):
        a, b = lut.affine
        return cv2.addWeighted(stored, a * scale, stored, 0.0, (b - lo) * scale, dtype=cv_depth)
    table = np.clip(np.rint((lut.values - lo) * scale), 0, maxval).astype(dtype)
    return np.take(table, lut_indices(stored, lut.offset), mode="clip")
