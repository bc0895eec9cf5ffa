"""DICOM decoding, just before a decoder runs: the compressed frame's own header must agree with the DICOM header.

The JPEG / JPEG-LS SOF, JPEG 2000 SIZ or RLE segment table must give the checked Rows, Columns and samples,
and BitsAllocated must be one the codec produces.

Some decoders do not survive a disagreement: python-gdcm throws an uncaught C++ exception (the process
aborts) on a JPEG Lossless frame whose header says BitsAllocated 32, or a JPEG-LS frame with one row
fewer than Rows; pylibjpeg-rle panics when an RLE segment decodes to more bytes than Rows x Columns.
"""

from __future__ import annotations

import itertools
import struct

from cxrdet.io.dicom_checks import HeaderError, ImageAttributes

JPEG_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}
)
JPEG_LS_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"})
J2K_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.201",
        "1.2.840.10008.1.2.4.202",
        "1.2.840.10008.1.2.4.203",
    }
)
RLE_SYNTAX = "1.2.840.10008.1.2.5"
CHECKED_SYNTAXES = JPEG_SYNTAXES | JPEG_LS_SYNTAXES | J2K_SYNTAXES | {RLE_SYNTAX}

_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_LS_SOF = 0xF7
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: markers without a length
_SOS, _EOI = 0xDA, 0xD9
_J2K_SOC, _J2K_SIZ = b"\xff\x4f", b"\xff\x51"
_JP2_SIGNATURE = b"\x00\x00\x00\x0c\x6a\x50\x20\x20"
_RLE_HEADER = 64
_RLE_MAX_SEGMENTS = 15
_RLE_PADDING = 1  # a non-conformant pad byte some encoders add to a segment's decoded bytes

_BITS_ALLOCATED = {"jpeg": (8, 16), "j2k": (8, 16, 32), "rle": (8, 16, 32, 64)}


def _first_frame(pixel_data: bytes) -> bytes:
    """The single frame of encapsulated pixel data (its fragments joined)."""
    from pydicom.encaps import generate_frames

    try:
        return next(generate_frames(pixel_data, number_of_frames=1))
    except (ValueError, StopIteration, struct.error, IndexError, TypeError):
        raise HeaderError("pixel data is not encapsulated as its compressed transfer syntax requires") from None


def _frame_header_mismatch(what: str) -> HeaderError:
    return HeaderError(f"the compressed frame's own header disagrees with the DICOM header ({what})")


def _allocated_for(codec: str, attrs: ImageAttributes, precision: int) -> None:
    allowed = _BITS_ALLOCATED[codec]
    if attrs.bits_allocated not in allowed:
        raise HeaderError(f"BitsAllocated must be {' or '.join(map(str, allowed))} for this compression")
    if precision > attrs.bits_allocated:
        raise _frame_header_mismatch("sample precision exceeds BitsAllocated")


def _check_size(attrs: ImageAttributes, rows: int, columns: int, components: int) -> None:
    if components != attrs.samples_per_pixel:
        raise _frame_header_mismatch("number of components")
    if (rows, columns) != (attrs.rows, attrs.columns):
        raise _frame_header_mismatch("image size")


def jpeg_frame_header(frame: bytes) -> tuple[int, int, int, int, int]:
    """(SOF marker, precision, rows, columns, components) of a JPEG or JPEG-LS codestream.

    Raises:
        HeaderError: no SOI, or no SOF segment before the scan / end of the data.
    """
    if frame[:2] != b"\xff\xd8":
        raise _frame_header_mismatch("no JPEG start-of-image marker")
    at = 2
    while at + 4 <= len(frame):
        if frame[at] != 0xFF:
            raise _frame_header_mismatch("damaged JPEG marker segment")
        marker = frame[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker in (_SOS, _EOI):
            break
        (length,) = struct.unpack(">H", frame[at + 2 : at + 4])
        if marker in _JPEG_SOF or marker == _JPEG_LS_SOF:
            if length < 8 or at + 10 > len(frame):
                break
            precision, rows, columns, components = struct.unpack(">BHHB", frame[at + 4 : at + 10])
            return marker, precision, rows, columns, components
        if length < 2:
            raise _frame_header_mismatch("damaged JPEG marker segment")
        at += 2 + length
    raise _frame_header_mismatch("no JPEG frame header")


def _check_jpeg(frame: bytes, attrs: ImageAttributes, jpeg_ls: bool) -> None:
    marker, precision, rows, columns, components = jpeg_frame_header(frame)
    if (marker == _JPEG_LS_SOF) != jpeg_ls:
        raise _frame_header_mismatch("JPEG process does not match the transfer syntax")
    if not 2 <= precision <= 16:
        raise _frame_header_mismatch("sample precision out of range")
    _allocated_for("jpeg", attrs, precision)
    _check_size(attrs, rows, columns, components)


def j2k_frame_header(frame: bytes) -> tuple[int, int, int, int]:
    """(precision of the first component, rows, columns, components) from a JPEG 2000 codestream's SIZ.

    Raises:
        HeaderError: no SOC/SIZ (after an optional JP2 wrapper), or a SIZ too short.
    """
    at = 0
    if frame.startswith(_JP2_SIGNATURE):  # a JP2 file: find the contiguous-codestream box
        at = 12
        while at + 8 <= len(frame):
            (length,) = struct.unpack(">I", frame[at : at + 4])
            if frame[at + 4 : at + 8] == b"jp2c":
                at += 8
                break
            if length < 8:
                raise _frame_header_mismatch("damaged JP2 box")
            at += length
    if frame[at : at + 2] != _J2K_SOC or frame[at + 2 : at + 4] != _J2K_SIZ or at + 43 > len(frame):
        raise _frame_header_mismatch("no JPEG 2000 SIZ marker")
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", frame[at + 8 : at + 24])
    (components,) = struct.unpack(">H", frame[at + 40 : at + 42])
    precision = (frame[at + 42] & 0x7F) + 1
    return precision, ysiz - yosiz, xsiz - xosiz, components


def _check_j2k(frame: bytes, attrs: ImageAttributes) -> None:
    precision, rows, columns, components = j2k_frame_header(frame)
    _allocated_for("j2k", attrs, precision)
    _check_size(attrs, rows, columns, components)


def rle_segment_length(segment: bytes, limit: int) -> int:
    """Bytes a PackBits-coded RLE segment decodes to; counting stops once past ``limit``."""
    total, at, end = 0, 0, len(segment)
    while at < end and total <= limit:
        header = segment[at]
        if header < 128:  # literal run of header + 1 bytes
            total += header + 1
            at += header + 2
        elif header > 128:  # the next byte repeated 257 - header times
            total += 257 - header
            at += 2
        else:  # 128: no operation
            at += 1
    return total


def _check_rle(frame: bytes, attrs: ImageAttributes) -> bool:
    """Check the RLE header and every segment's decoded length; True if some segment has padding."""
    _allocated_for("rle", attrs, attrs.bits_allocated)
    if len(frame) < _RLE_HEADER:
        raise _frame_header_mismatch("RLE header is truncated")
    count, *offsets = struct.unpack("<16I", frame[:_RLE_HEADER])
    expected_segments = attrs.samples_per_pixel * attrs.bits_allocated // 8
    if count != expected_segments or count > _RLE_MAX_SEGMENTS:
        raise _frame_header_mismatch("number of RLE segments")
    bounds = [*offsets[:count], len(frame)]
    if bounds[0] != _RLE_HEADER or any(b <= a for a, b in itertools.pairwise(bounds)):
        raise _frame_header_mismatch("RLE segment offsets")
    expected = attrs.rows * attrs.columns
    padded = False
    for start, stop in itertools.pairwise(bounds):
        decoded = rle_segment_length(frame[start:stop], expected + _RLE_PADDING)
        if decoded < expected:
            raise _frame_header_mismatch("an RLE segment decodes to fewer bytes than Rows x Columns")
        if decoded > expected + _RLE_PADDING:
            raise _frame_header_mismatch("an RLE segment decodes to more bytes than Rows x Columns")
        padded |= decoded > expected
    return padded


def check_codestream(pixel_data: bytes, attrs: ImageAttributes, uid: str) -> str:
    """Check the compressed frame of a JPEG, JPEG-LS, JPEG 2000 or RLE dataset against its attributes.

    Args:
        pixel_data: the encapsulated PixelData value.
        attrs: the dataset's checked image attributes.
        uid: its transfer syntax UID (one of :data:`CHECKED_SYNTAXES`).

    Returns:
        The pydicom decoding plugin to use: "" (pydicom's choice), or "pydicom" for an RLE frame whose
        segments carry one pad byte (pydicom's own decoder accepts it; pylibjpeg-rle would panic).

    Raises:
        HeaderError: the pixel data is not encapsulated, or its frame header disagrees with the attributes.
    """
    frame = _first_frame(pixel_data)
    if uid in JPEG_SYNTAXES or uid in JPEG_LS_SYNTAXES:
        _check_jpeg(frame, attrs, jpeg_ls=uid in JPEG_LS_SYNTAXES)
    elif uid in J2K_SYNTAXES:
        _check_j2k(frame, attrs)
    elif uid == RLE_SYNTAX and _check_rle(frame, attrs):
        return "pydicom"
    return ""
