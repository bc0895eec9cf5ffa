"""DICOM header check before any decoding: the image attributes are single, in-range, consistent values.

Rows, Columns, BitsAllocated, BitsStored, HighBit, PixelRepresentation, SamplesPerPixel, NumberOfFrames and
PhotometricInterpretation are read once through :func:`image_attributes`; every later stage (decoding, the
grey-level table) uses its plain ints, so no stage does its own ``int()`` on raw header values.
"""

from __future__ import annotations

from dataclasses import dataclass

GREY_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2")
BITS_ALLOCATED = (1, 8, 16, 32, 64)  # what pydicom can unpack from native pixel data
UNDEFINED_LENGTH = 0xFFFFFFFF
MAX_PIXELS = 1 << 28  # 16384 x 16384: far beyond any radiograph; keeps a damaged size from costing gigabytes


class HeaderError(ValueError):
    """A header value that cannot be used. The message describes the problem without quoting raw header text."""


@dataclass(frozen=True)
class ImageAttributes:
    """The validated image attributes of a dataset.

    Attributes:
        rows: Rows (1..65535).
        columns: Columns (1..65535).
        bits_allocated: BitsAllocated (1, 8, 16, 32 or 64).
        bits_stored: BitsStored (1..bits_allocated).
        high_bit: HighBit (bits_stored - 1 .. bits_allocated - 1; bits_stored - 1 when absent).
        signed: PixelRepresentation == 1.
        samples_per_pixel: SamplesPerPixel (always 1: a grey image).
        photometric: "MONOCHROME1" or "MONOCHROME2".
    """

    rows: int
    columns: int
    bits_allocated: int
    bits_stored: int
    high_bit: int
    signed: bool
    samples_per_pixel: int
    photometric: str

    @property
    def stored_range(self) -> tuple[int, int]:
        """Smallest and largest representable stored value."""
        if self.signed:
            return -(1 << (self.bits_stored - 1)), (1 << (self.bits_stored - 1)) - 1
        return 0, (1 << self.bits_stored) - 1


def element_value(ds, keyword: str):
    """An element's value, converted from its raw bytes by pydicom.

    Raises:
        HeaderError: the raw bytes do not fit the element's VR (a damaged length or VR).
    """
    try:
        return ds[keyword].value
    except Exception:  # BytesLengthException, ValueError, ...: the class is all we report
        raise HeaderError(f"element {keyword} is damaged (its bytes do not fit its value representation)") from None


def _single_integer(ds, keyword: str, default: int | None = None) -> int:
    """The element's value as an int: one integer value (not text, not several values), or ``default``.

    Raises:
        HeaderError: absent without a default, or not a single integer.
    """
    if keyword not in ds:
        if default is None:
            raise HeaderError(f"missing image attribute {keyword}")
        return default
    value = element_value(ds, keyword)
    if value is None or value == "":
        if default is None:
            raise HeaderError(f"image attribute {keyword} is empty")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise HeaderError(f"image attribute {keyword} is not a single integer")
    return int(value)


def _in_range(keyword: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise HeaderError(f"image attribute {keyword} is out of range ({low}..{high})")
    return value


def _photometric(ds) -> str:
    value = element_value(ds, "PhotometricInterpretation") if "PhotometricInterpretation" in ds else None
    text = value.strip() if isinstance(value, str) else None
    if text not in GREY_PHOTOMETRICS:
        raise HeaderError("photometric interpretation is not MONOCHROME1 or MONOCHROME2 (not a grey image)")
    return text


def _grey_single_frame(ds) -> int:
    """SamplesPerPixel, after checking that the dataset holds one grey frame."""
    samples = _in_range("SamplesPerPixel", _single_integer(ds, "SamplesPerPixel", 1), 1, 4)
    if samples != 1:
        raise HeaderError(f"colour image ({samples} samples per pixel); need one grey image")
    frames = _single_integer(ds, "NumberOfFrames", 1) or 1  # 0 (a writer's "not applicable") means one
    if frames < 0:
        raise HeaderError("image attribute NumberOfFrames is out of range")
    if frames != 1:
        raise HeaderError(f"multi-frame image ({frames} frames); need a single frame")
    return samples


def _bit_depths(ds) -> tuple[int, int, int]:
    """(BitsAllocated, BitsStored, HighBit), consistent with each other."""
    allocated = _single_integer(ds, "BitsAllocated")
    if allocated not in BITS_ALLOCATED:
        raise HeaderError(f"BitsAllocated must be one of {', '.join(map(str, BITS_ALLOCATED))}")
    stored = _in_range("BitsStored", _single_integer(ds, "BitsStored"), 1, allocated)
    high_bit = _in_range("HighBit", _single_integer(ds, "HighBit", stored - 1), stored - 1, allocated - 1)
    return allocated, stored, high_bit


def image_attributes(ds) -> ImageAttributes:
    """Check the image attributes of a dataset and return them as plain ints.

    Raises:
        HeaderError: an attribute is missing, not a single integer, out of range or inconsistent
            (BitsStored > BitsAllocated, ...); or the dataset is not one grey frame (zero-sized, colour,
            multi-frame, not MONOCHROME1/2), or is larger than :data:`MAX_PIXELS`.
    """
    rows, columns = _single_integer(ds, "Rows"), _single_integer(ds, "Columns")
    if rows <= 0 or columns <= 0:
        raise HeaderError(f"zero-sized image ({rows} x {columns})")
    _in_range("Rows", rows, 1, 65535)
    _in_range("Columns", columns, 1, 65535)
    if rows * columns > MAX_PIXELS:
        raise HeaderError(f"image of {rows} x {columns} pixels is larger than any radiograph (at most {MAX_PIXELS})")
    samples = _grey_single_frame(ds)
    photometric = _photometric(ds)
    allocated, stored, high_bit = _bit_depths(ds)
    representation = _single_integer(ds, "PixelRepresentation", 0)
    if representation not in (0, 1):
        raise HeaderError("image attribute PixelRepresentation must be 0 or 1")
    return ImageAttributes(rows, columns, allocated, stored, high_bit, representation == 1, samples, photometric)


def check_native_length(attrs: ImageAttributes, length: int) -> None:
    """Uncompressed pixel data must hold one image of Rows x Columns x BitsAllocated (plus a pad byte).

    Raises:
        HeaderError: shorter (a truncated file), or long enough for a second image (wrong size attributes).
    """
    expected = (attrs.rows * attrs.columns * attrs.samples_per_pixel * attrs.bits_allocated + 7) // 8
    if length == UNDEFINED_LENGTH:
        raise HeaderError("pixel data is encapsulated but the transfer syntax is uncompressed")
    if length < expected:
        raise HeaderError("pixel data is truncated or shorter than the image size")
    if length >= 2 * expected:
        raise HeaderError("pixel data holds more than one image of Rows x Columns (wrong size attributes)")
