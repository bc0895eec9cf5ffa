"""DICOM reading, grey levels: the modality + VOI + MONOCHROME1 transform as one exact lookup table.

pydicom's own ``apply_modality_lut`` and ``apply_voi_lut`` are evaluated once over every representable
stored value (at most 65,536 of them), so the result equals pydicom's to the last bit, and applying it to
a 3072x3072 image is a single table lookup instead of float64 work on 9.4 M pixels. When that table is
a clipped straight line (rescale slope/intercept, LINEAR or LINEAR_EXACT windows, no VOI at all, with or
without MONOCHROME1 inversion — checked numerically, not assumed), the display image is made by one
saturating affine pass (``cv2.addWeighted``, in :func:`cxrdet.preprocess.intensity.to_display`), the
fastest path.

Every table is finite: the LUT items and the rescale are checked before pydicom sees them, a window that
cannot be applied (NaN/inf centre or width, width <= 0) is ignored so the image spans the full modality-LUT
range (:func:`cxrdet.io.dicom_lut_checks.voi_applies`), and a rescale or LUT whose grey levels are not
finite in float32 raises :class:`~cxrdet.io.dicom_checks.HeaderError` (a ``ValueError``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cxrdet.io.dicom_checks import HeaderError, image_attributes
from cxrdet.io.dicom_lut_checks import check_modality_transform, voi_applies
from cxrdet.io.dicom_quiet import quiet_pydicom

_MAX_LUT_ENTRIES = 1 << 17  # above this (BitsStored > 17) pydicom's functions run on the image itself
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class GreyLut:
    """``values[i]`` is the grey level of stored value ``offset + i`` (higher means brighter).

    Attributes:
        values: float64 table over every representable stored value.
        offset: the smallest representable stored value (0, or -2**(bits-1) for signed data).
        affine: (a, b) when ``values == clip(a * stored + b, values.min(), values.max())``, else None.
    """

    values: np.ndarray
    offset: int
    affine: tuple[float, float] | None


def stored_range(ds) -> tuple[int, int]:
    """Smallest and largest representable stored value for BitsStored / PixelRepresentation.

    Raises:
        HeaderError: the image attributes are unusable (see :func:`cxrdet.io.dicom_checks.image_attributes`).
    """
    return image_attributes(ds).stored_range


def _require_finite(values, what: str) -> None:
    """Raise unless every value is a finite number that float32 can hold."""
    array = np.asarray(values)
    if array.dtype.kind in "iub":
        return
    if array.size and not (np.isfinite(array).all() and float(np.abs(array).max()) <= _FLOAT32_MAX):
        raise HeaderError(f"{what} gives grey levels that are not finite in float32")


def _signed(values):
    """Unsigned integers as int64: pydicom subtracts a LUT's (possibly negative) first mapped value from
    them, which overflows an unsigned array in NumPy 2. Same values; floats and signed ints unchanged."""
    array = np.asarray(values)
    return array.astype(np.int64) if array.dtype.kind == "u" else values


def _apply_pydicom(values: np.ndarray, ds, apply_voi: bool, voi_index: int) -> np.ndarray:
    """pydicom's modality LUT, then its VOI LUT / window, over ``values`` (float64), after checking both.

    A window that cannot be applied is skipped (see :func:`cxrdet.io.dicom_lut_checks.voi_applies`).

    Raises:
        HeaderError: an unusable LUT or rescale, or non-finite grey levels.
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    with quiet_pydicom():  # e.g. "VOI LUT on a float input": as pydicom itself does
        check_modality_transform(ds)
        out = apply_modality_lut(_signed(values), ds)
        _require_finite(out, "the modality LUT (rescale slope/intercept or LUT data)")
        if apply_voi and voi_applies(ds, voi_index):
            out = apply_voi_lut(_signed(out), ds, index=voi_index)
            _require_finite(out, "the VOI LUT / window")
    return np.asarray(out, dtype=np.float64)


def _fit_affine(values: np.ndarray, offset: int) -> tuple[float, float] | None:
    lo, hi = values.min(), values.max()
    inside = np.flatnonzero((values > lo) & (values < hi))
    if len(inside) < 2:
        return None
    i, j = inside[0], inside[-1]
    if i == j:
        return None
    a = (values[j] - values[i]) / (j - i)
    b = values[i] - a * (i + offset)
    xs = np.arange(offset, offset + len(values), dtype=np.float64)
    fitted = np.clip(a * xs + b, lo, hi)
    tolerance = 1e-9 * max(1.0, hi - lo)
    if np.max(np.abs(fitted - values)) > tolerance:
        return None
    return float(a), float(b)


def grey_lut(ds, *, apply_voi: bool = True, voi_index: int = 0) -> GreyLut | None:
    """The stored-value -> grey-level table of a dataset, or None when BitsStored is too large for one.

    MONOCHROME1 is inverted as ``v -> lo + hi - v`` with ``lo, hi`` the table's own range, so that the
    inversion does not depend on which values one image happens to contain. Every entry is finite.

    Raises:
        HeaderError: unusable image attributes, LUT or rescale, or a table that is not finite in float32.
    """
    with quiet_pydicom():  # reading the attributes converts them: pydicom's warnings may quote them
        attrs = image_attributes(ds)
        first, last = attrs.stored_range
        if last - first + 1 > _MAX_LUT_ENTRIES:
            return None
        values = _apply_pydicom(np.arange(first, last + 1, dtype=np.int64), ds, apply_voi, voi_index)
    if attrs.photometric == "MONOCHROME1":
        values = (values.min() + values.max()) - values
        _require_finite(values, "the MONOCHROME1 inversion")
    return GreyLut(values=values, offset=first, affine=_fit_affine(values, first))


def lut_indices(stored: np.ndarray, offset: int) -> np.ndarray:
    if offset == 0 and stored.dtype.kind == "u":
        return stored
    return stored.astype(np.int64) - offset


def stored_to_float(ds, stored: np.ndarray, *, apply_voi: bool = True, voi_index: int = 0) -> np.ndarray:
    """Grey levels of a decoded image as float32, all finite (see :func:`cxrdet.io.dicom.read_dicom`).

    Raises:
        HeaderError: unusable image attributes, LUT or rescale, or grey levels that are not finite.
    """
    lut = grey_lut(ds, apply_voi=apply_voi, voi_index=voi_index)
    if lut is None:
        return _deep_to_float(ds, stored, apply_voi, voi_index)
    return np.take(lut.values.astype(np.float32), lut_indices(stored, lut.offset), mode="clip")


def _deep_to_float(ds, stored: np.ndarray, apply_voi: bool, voi_index: int) -> np.ndarray:
    """Grey levels of data too deep for a table (BitsStored > 17): pydicom's functions on the image itself."""
    with quiet_pydicom():
        values = _apply_pydicom(stored, ds, apply_voi, voi_index)
        if image_attributes(ds).photometric == "MONOCHROME1":
            ends = _apply_pydicom(np.array(stored_range(ds)), ds, apply_voi, voi_index)
            values = (ends.min() + ends.max()) - values
            _require_finite(values, "the MONOCHROME1 inversion")
    return values.astype(np.float32)


def present_range(lut: GreyLut, stored: np.ndarray) -> tuple[float, float]:
    """Min and max grey level over the stored values this image contains."""
    smin, smax = (
        (int(v) for v in cv2.minMaxLoc(stored)[:2])
        if stored.dtype.itemsize <= 2
        else (int(stored.min()), int(stored.max()))
    )
    first, last = lut.offset, lut.offset + len(lut.values) - 1
    smin, smax = max(smin, first), min(smax, last)
    segment = lut.values[smin - lut.offset : smax - lut.offset + 1]
    steps = np.diff(segment)
    if (steps >= 0).all() or (steps <= 0).all():
        ends = (segment[0], segment[-1])
        return float(min(ends)), float(max(ends))
    counts = np.bincount(
        np.clip(lut_indices(stored, lut.offset), 0, len(lut.values) - 1).ravel(), minlength=len(lut.values)
    )
    present = lut.values[counts > 0]
    return float(present.min()), float(present.max())
