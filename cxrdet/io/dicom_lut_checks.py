"""DICOM header check before the grey-level transform: usable Modality/VOI LUTs, rescale and window.

LUT items must agree with their descriptors, the rescale must be a pair of finite numbers, and a window
that cannot be applied is recognised (the caller then ignores it).

These checks mirror what pydicom's ``apply_modality_lut`` / ``apply_voi_lut`` would read, so that pydicom
only ever sees values it can use (it otherwise raises ``struct.error`` on LUT data shorter than its
descriptor, ``NotImplementedError`` on a 40-bit LUT, or returns NaN for a NaN rescale or window).
"""

from __future__ import annotations

import decimal
import logging
import math
import numbers

import numpy as np

from cxrdet.io.dicom_checks import HeaderError, element_value

log = logging.getLogger(__name__)

MODALITY_LUT_DEPTHS = (8, 16)  # PS3.3 C.11.1.1: 8 or 16 bits per entry (pydicom makes uint8 / uint16 of them)
VOI_LUT_DEPTHS = (8, *range(10, 17))  # PS3.3 C.11.2.1.1: 8 or 10..16 bits per entry (as pydicom accepts)
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
_BIG_ENDIAN = "1.2.840.10008.1.2.2"


def _number(value) -> float | None:
    """A single real number as float, else None (text, several values, nothing)."""
    if value is None or isinstance(value, bool | str | bytes):
        return None
    if isinstance(value, numbers.Real | decimal.Decimal):  # DSfloat / DSdecimal
        return float(value)
    return None


def _values(value) -> list | None:
    """The values of a multi-valued element (pydicom's MultiValue or a list), else None."""
    from pydicom.multival import MultiValue

    return list(value) if isinstance(value, MultiValue | list | tuple) else None


def _little_endian(ds) -> bool:
    """The byte order pydicom reads OW LUT data in (that of the transfer syntax)."""
    from pydicom.uid import UID

    meta = getattr(ds, "file_meta", None)
    if meta is None:
        little = getattr(ds, "original_encoding", (None, None))[1]
    else:
        uid = meta.get("TransferSyntaxUID")
        known = isinstance(uid, str) and not UID(uid).is_private and UID(uid).is_transfer_syntax
        little = (str(uid) != _BIG_ENDIAN) if known else None
    if little is None:
        raise HeaderError("the byte order of the LUT data is unknown (no known transfer syntax)")
    return little


def _descriptor(item, depths: tuple[int, ...]) -> tuple[int, int, int]:
    """(entries, first stored value mapped, bits per entry) of a LUT item's LUTDescriptor."""
    values = _values(element_value(item, "LUTDescriptor")) if "LUTDescriptor" in item else None
    if values is None or len(values) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise HeaderError("a LUT descriptor is not three integers")
    entries, first, depth = values
    if not 0 <= entries <= 65535 or not -32768 <= first <= 65535:
        raise HeaderError("a LUT descriptor is out of range")
    if depth not in depths:
        raise HeaderError(f"a LUT has an unsupported entry size (must be {', '.join(map(str, depths))} bits)")
    return entries or 65536, first, depth


def _lut_values(item, entries: int, little: bool, exact: bool) -> np.ndarray:
    """The LUT entries pydicom would use, as int64, after checking there are enough of them."""
    if "LUTData" not in item:
        raise HeaderError("a LUT item has no LUT data")
    value = element_value(item, "LUTData")
    if item["LUTData"].VR == "OW":
        size = len(value) if isinstance(value, bytes | bytearray) else -1
        if size < 2 * entries or (exact and size != 2 * entries):
            raise HeaderError("LUT data is shorter or longer than its descriptor says")
        return np.frombuffer(value, dtype=("<" if little else ">") + "u2", count=entries).astype(np.int64)
    values = _values(value)
    if values is None and isinstance(value, int) and entries == 1:
        values = [value]
    if values is None or len(values) < entries or not all(isinstance(v, int) for v in values):
        raise HeaderError("LUT data is shorter than its descriptor says, or not integers")
    return np.asarray(values[:entries], dtype=np.int64)


def _check_lut_item(ds, item, depths: tuple[int, ...], exact: bool) -> None:
    entries, _, depth = _descriptor(item, depths)
    values = _lut_values(item, entries, _little_endian(ds), exact)
    top = 255 if depth == 8 else 65535  # pydicom stores 8-bit entries as uint8, the others as uint16
    if len(values) and (values.min() < 0 or values.max() > top):
        raise HeaderError("LUT data holds values that do not fit its entry size")


def _sequence_item(ds, keyword: str, index: int):
    """Item ``index`` of a non-empty LUT sequence, or None when the sequence is absent or empty."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    sequence = ds.get(keyword)
    if not sequence:
        return None
    if not isinstance(sequence, Sequence) or not all(isinstance(item, Dataset) for item in sequence):
        raise HeaderError(f"{keyword} is not a sequence of items")
    if not 0 <= index < len(sequence):
        raise HeaderError(f"{keyword} has no item number {index}")
    return sequence[index]


def check_modality_transform(ds) -> None:
    """Check what ``apply_modality_lut`` will use: the Modality LUT Sequence's first item, else the rescale.

    Raises:
        HeaderError: LUT descriptor/data unusable, or RescaleSlope / RescaleIntercept not a finite number.
    """
    item = _sequence_item(ds, "ModalityLUTSequence", 0)
    if item is not None:
        _check_lut_item(ds, item, MODALITY_LUT_DEPTHS, exact=True)  # pydicom unpacks exactly `entries` words
        return
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        for keyword in ("RescaleSlope", "RescaleIntercept"):
            number = _number(element_value(ds, keyword))
            if number is None or not math.isfinite(number):
                raise HeaderError(f"{keyword} is not a single finite number")


def _voi_lut_used(ds) -> bool:
    """Whether ``apply_voi_lut`` (prefer_lut=True) takes the VOI LUT Sequence: its first item has both parts."""
    item = _sequence_item(ds, "VOILUTSequence", 0)
    return item is not None and item.get("LUTDescriptor") is not None and item.get("LUTData") is not None


def _window_value(ds, keyword: str, index: int) -> float | None:
    """Window centre or width ``index`` as pydicom picks it (the only value when there is one), or None."""
    try:
        elem = ds[keyword]
        value = elem.value[index] if elem.VM > 1 else elem.value
    except Exception:  # no such window, or bytes pydicom cannot convert: not a number
        return None
    return _number(value)


def _has_value(ds, keyword: str) -> bool:
    """Whether the element is there with a value (as ``ds.get(keyword) is not None``; unconvertible counts)."""
    if keyword not in ds:
        return False
    try:
        return ds[keyword].value is not None
    except Exception:  # present but damaged: a window that cannot be applied
        return True


def _voi_function(ds) -> str | None:
    try:
        function = ds.get("VOILUTFunction", "LINEAR")
    except Exception:  # damaged: no known function
        return None
    return function.upper() if isinstance(function, str) else None


def _window_usable(ds, index: int) -> bool:
    center, width = _window_value(ds, "WindowCenter", index), _window_value(ds, "WindowWidth", index)
    function = _voi_function(ds)
    if function not in VOI_FUNCTIONS:
        return False
    if center is None or width is None or not (math.isfinite(center) and math.isfinite(width)):
        return False
    return width >= 1 if function == "LINEAR" else width > 0  # pydicom's own limits


def voi_applies(ds, index: int) -> bool:
    """Check the VOI transform ``apply_voi_lut`` will use; False when it is a window that cannot be applied.

    An unusable window (centre or width not a finite number, width <= 0 or below pydicom's minimum of 1
    for LINEAR, an unknown VOI LUT function) is ignored: the caller shows the image over the full range of
    the modality LUT, and a DEBUG record says so (without the values).

    Raises:
        HeaderError: the VOI LUT Sequence item that would be used is unusable.
    """
    if _voi_lut_used(ds):
        item = _sequence_item(ds, "VOILUTSequence", index)
        _check_lut_item(ds, item, VOI_LUT_DEPTHS, exact=False)  # pydicom reads the first `entries` words
        return True
    if not (_has_value(ds, "WindowCenter") and _has_value(ds, "WindowWidth")):
        return True  # no VOI at all: apply_voi_lut returns its input
    if _window_usable(ds, index):
        return True
    log.debug(
        "window %d is not usable (not finite, not positive or an unknown VOI LUT function): ignored; "
        "the image spans the full modality-LUT range",
        index,
    )
    return False
