"""DICOM in: read one radiograph into a single grey float image (modality LUT, VOI, MONOCHROME1) + metadata.

This is the first stage of the pipeline. Every failure becomes a :class:`~cxrdet.errors.DicomError` that
names the file and the cause; no patient-identifying field (name, ID, birth date, accession number,
institution) is ever copied into :class:`DicomMeta`, so nothing downstream can leak it.
"""

from __future__ import annotations

import logging
import math
import os
import re
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from cxrdet.errors import DicomError
from cxrdet.io.dicom_checks import (
    UNDEFINED_LENGTH,
    HeaderError,
    ImageAttributes,
    check_native_length,
    image_attributes,
)
from cxrdet.io.dicom_codestream import CHECKED_SYNTAXES, check_codestream
from cxrdet.io.dicom_files import BoundedFile, check_deferred_lengths
from cxrdet.io.dicom_quiet import quiet_pydicom
from cxrdet.io.dicom_terms import modality_term, transfer_syntax_name, transfer_syntax_uid

log = logging.getLogger(__name__)

# Which package decodes which compressed transfer syntax (all permissively licensed).
_DECODER_HINTS: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "JPEG Baseline: pip install python-gdcm (or pillow)",
    "1.2.840.10008.1.2.4.51": "JPEG Extended: python-gdcm decodes 8-bit; 12-bit needs pylibjpeg "
    "pylibjpeg-libjpeg (GPL-3 licence, not installed by cxrdet)",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless: pip install python-gdcm",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1: pip install python-gdcm",
    "1.2.840.10008.1.2.4.80": "JPEG-LS: pip install pyjpegls (or python-gdcm)",
    "1.2.840.10008.1.2.4.81": "JPEG-LS: pip install pyjpegls (or python-gdcm)",
    "1.2.840.10008.1.2.4.90": "JPEG 2000: pip install pylibjpeg pylibjpeg-openjpeg (or python-gdcm)",
    "1.2.840.10008.1.2.4.91": "JPEG 2000: pip install pylibjpeg pylibjpeg-openjpeg (or python-gdcm)",
    "1.2.840.10008.1.2.4.201": "HTJ2K: pip install pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.202": "HTJ2K: pip install pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.203": "HTJ2K: pip install pylibjpeg pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.5": "RLE: built into pydicom; pip install pylibjpeg-rle for speed",
}

_DEFER_BYTES = 1 << 20  # PixelData (and any other value this large) is read only when needed
_NATIVE_LITTLE_ENDIAN = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")  # implicit / explicit VR LE
_NATIVE_SYNTAXES = (*_NATIVE_LITTLE_ENDIAN, "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")  # + big-endian, Deflate
_PIXEL_DATA = 0x7FE00010

_AGE_UNITS = {"Y": 1.0, "M": 1.0 / 12.0, "W": 7.0 / 365.25, "D": 1.0 / 365.25}
_AGE_RE = re.compile(r"^\s*(\d{1,3})\s*([YMWD]?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class DicomMeta:
    """Non-identifying facts about one DICOM image.

    Attributes:
        image_id: file stem (the competition's image id).
        rows: original height in pixels.
        columns: original width in pixels.
        photometric: PhotometricInterpretation ("MONOCHROME1" or "MONOCHROME2").
        bits_stored: BitsStored.
        signed: PixelRepresentation == 1.
        pixel_spacing: (row, column) spacing in mm, or None when absent or zero.
        sex: "M", "F", "O" or None.
        age_years: patient age in years (from e.g. "028Y", "006M"), or None.
        modality: Modality when it is a DICOM defined term (e.g. "DX", "CR"), else None.
        transfer_syntax: the transfer syntax name from pydicom's dictionary (e.g. "JPEG 2000 Image
            Compression (Lossless Only)"), or "unknown".
    """

    image_id: str
    rows: int
    columns: int
    photometric: str
    bits_stored: int
    signed: bool
    pixel_spacing: tuple[float, float] | None
    sex: str | None
    age_years: float | None
    modality: str | None
    transfer_syntax: str

    @property
    def height(self) -> int:
        return self.rows

    @property
    def width(self) -> int:
        return self.columns

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DicomImage:
    """A decoded radiograph: float32 grey values where higher always means brighter."""

    pixels: np.ndarray
    meta: DicomMeta


def parse_age(value) -> float | None:
    """Patient age in years from a DICOM AS string ("028Y", "006M", "010W", "005D", "45"), else None."""
    if value is None:
        return None
    match = _AGE_RE.match(str(value))
    if not match:
        return None
    number, unit = int(match.group(1)), (match.group(2) or "Y").upper()
    return number * _AGE_UNITS[unit]


def _parse_sex(value) -> str | None:
    sex = str(value or "").strip().upper()[:1]
    return sex if sex in ("M", "F", "O") else None


class _Boundary:
    """Context manager around every pydicom access: pydicom kept quiet, foreign exceptions made DicomErrors.

    A :class:`DicomError` passes unchanged and a :class:`HeaderError` becomes one with its own (safe)
    message, prefixed with ``what`` when ``prefix`` is set; any other exception becomes ``what`` plus its
    class name only (exception texts can quote header values). A ``BaseException`` from an extension
    module (pyo3's ``PanicException`` when a Rust decoder panics) becomes "decoder crashed: <class>";
    KeyboardInterrupt, SystemExit and GeneratorExit are re-raised.
    """

    def __init__(self, path: str | os.PathLike, what: str, prefix: bool = False):
        self.path, self.what, self.prefix = path, what, prefix
        self._quiet = quiet_pydicom()

    def __enter__(self) -> None:
        self._quiet.__enter__()

    def __exit__(self, kind, err, traceback) -> Literal[False]:
        self._quiet.__exit__(None, None, None)
        if err is None or isinstance(err, (DicomError, KeyboardInterrupt, SystemExit, GeneratorExit)):
            return False
        if isinstance(err, HeaderError):
            reason = f"{self.what}: {err}" if self.prefix else str(err)
        elif isinstance(err, Exception):
            reason = f"{self.what}: {type(err).__name__}"
        else:
            reason = f"decoder crashed: {type(err).__name__}"
        raise DicomError(self.path, reason) from None


def grey_level_errors(path: str | os.PathLike) -> _Boundary:
    """``with grey_level_errors(path):`` around the modality/VOI transform of a file's pixels.

    pydicom is kept quiet inside; any failure becomes a :class:`DicomError` naming the file, worded
    "bad modality/VOI LUT attributes: ..." without raw header values.
    """
    return _Boundary(path, "bad modality/VOI LUT attributes", prefix=True)


def _dcmread(path: Path, force: bool = False):
    """``pydicom.dcmread`` through a :class:`BoundedFile`, with deferred values checked against the file."""
    import pydicom

    with BoundedFile(path) as f:
        ds = pydicom.dcmread(f, force=force, defer_size=_DEFER_BYTES)
        size = f.size
    check_deferred_lengths(ds, size)
    return ds


def _read_without_preamble(path: Path):
    try:
        ds = _dcmread(path, force=True)
        if "PixelData" in ds and "Rows" in ds:
            return ds
    except Exception:  # any parse failure means "not DICOM"
        pass
    raise DicomError(path, "not a DICOM file (no 'DICM' preamble and no readable image dataset)")


def _parse(path: Path):
    from pydicom.errors import InvalidDicomError

    try:
        return _dcmread(path)
    except FileNotFoundError:
        raise DicomError(path, "file not found") from None
    except IsADirectoryError:
        raise DicomError(path, "is a directory, not a DICOM file") from None
    except InvalidDicomError:  # no preamble: some writers omit it; accept only a real image dataset
        return _read_without_preamble(path)
    except zlib.error:
        raise DicomError(path, "truncated or corrupt Deflate-compressed dataset (zlib error)") from None
    except HeaderError:
        raise
    except MemoryError:
        raise DicomError(
            path, "truncated or corrupt DICOM header: a length field asks for more memory than there is (MemoryError)"
        ) from None
    except Exception as err:  # struct.error, EOFError, NotImplementedError (unknown VR), ...
        raise DicomError(path, f"truncated or corrupt DICOM header: {type(err).__name__}") from None


def load_dataset(path: str | os.PathLike):
    """Read a DICOM file and check it holds exactly one grey image.

    Large values (the pixel data) are read later, on demand; lengths are checked against the file size.

    Raises:
        DicomError: not DICOM, truncated/corrupt header, no pixel data, multi-frame, colour, zero-sized,
            or image attributes that are not single in-range integers consistent with each other.
    """
    path = Path(path)
    with _Boundary(path, "truncated or corrupt DICOM header"):
        ds = _parse(path)
        if "PixelData" not in ds:
            raise DicomError(path, "no PixelData element (not an image, or the file is truncated)")
        image_attributes(ds)
    return ds


def _syntax(ds) -> str:
    """The dataset's transfer syntax UID if it is one pydicom knows, else ""."""
    meta = getattr(ds, "file_meta", None)
    return transfer_syntax_uid(meta.get("TransferSyntaxUID")) if meta is not None else ""


def _optional(ds, keyword: str):
    """An optional element's value, or None when it is absent or too damaged to convert."""
    try:
        return ds.get(keyword)
    except Exception:  # a damaged optional value counts as absent
        return None


def _parse_spacing(ds) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = _optional(ds, keyword)
        if value is None:
            continue
        try:
            spacing = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if len(spacing) == 2 and all(math.isfinite(s) and s > 0 for s in spacing):
            return spacing
    return None


def read_meta(ds, path: str | os.PathLike) -> DicomMeta:
    """Non-identifying metadata of a dataset opened by :func:`load_dataset`.

    Only checked values are copied: the image attributes, sex and age as parsed values, the Modality
    only when it is a DICOM defined term, the transfer syntax only by its known name.

    Raises:
        DicomError: the image attributes are unusable (see :func:`load_dataset`).
    """
    with _Boundary(path, "truncated or corrupt DICOM header"):
        attrs = image_attributes(ds)
        return DicomMeta(
            image_id=Path(path).stem,
            rows=attrs.rows,
            columns=attrs.columns,
            photometric=attrs.photometric,
            bits_stored=attrs.bits_stored,
            signed=attrs.signed,
            pixel_spacing=_parse_spacing(ds),
            sex=_parse_sex(_optional(ds, "PatientSex")),
            age_years=parse_age(_optional(ds, "PatientAge")),
            modality=modality_term(_optional(ds, "Modality")),
            transfer_syntax=transfer_syntax_name(_syntax(ds)),
        )


def _max_value(pixels: np.ndarray):
    import cv2  # SIMD min/max: several times faster than numpy's max on a 9 M-pixel image

    return cv2.minMaxLoc(pixels)[1]


def _native_pixels(ds, path: str | os.PathLike, attrs: ImageAttributes, uid: str) -> np.ndarray | None:
    """Uncompressed little-endian pixels mapped straight from the file (no copy), or None if not applicable.

    Equal to ``ds.pixel_array``: unused high bits are masked as pydicom does (only when any is set).
    """
    if uid not in _NATIVE_LITTLE_ENDIAN or attrs.bits_allocated not in (8, 16):
        return None
    raw = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    offset = getattr(raw, "value_tell", None)
    if raw is None or getattr(raw, "value", b"") is not None or offset is None:
        return None  # already read into memory (small file): pydicom's own path is as fast
    if attrs.signed and attrs.bits_stored < attrs.bits_allocated:
        return None  # sign extension of unused bits: leave to pydicom
    dtype = np.dtype(("<i" if attrs.signed else "<u") + str(attrs.bits_allocated // 8))
    needed = attrs.rows * attrs.columns * dtype.itemsize
    if int(raw.length) < needed or os.path.getsize(path) < offset + needed:
        raise DicomError(path, "pixel data is truncated or shorter than the image size")
    pixels = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(attrs.rows, attrs.columns))
    bits = attrs.bits_stored
    if not attrs.signed and bits < attrs.bits_allocated and int(_max_value(pixels)) >> bits:
        pixels = np.bitwise_and(pixels, (1 << bits) - 1)
    return pixels


def _pixel_data_length(ds) -> int:
    """Length of the PixelData value, without reading it when it is deferred."""
    from pydicom.dataelem import RawDataElement

    elem = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    if isinstance(elem, RawDataElement):  # not converted yet: it knows its length (0xFFFFFFFF: undefined)
        return int(elem.length)
    if elem.is_undefined_length:
        return UNDEFINED_LENGTH
    return len(elem.value or b"")


def _decoder_failure(path: str | os.PathLike, uid: str, err: BaseException) -> DicomError:
    """A decoder's exception as a DicomError: which syntax, which package to install, or "truncated"."""
    if isinstance(err, (NotImplementedError, RuntimeError, ImportError)):
        hint = _DECODER_HINTS.get(uid, "no known decoder for this transfer syntax")
        return DicomError(
            path, f"cannot decode transfer syntax {transfer_syntax_name(uid)} ({type(err).__name__})", hint
        )
    text = str(err).lower()  # only looked at, never copied into the message
    if isinstance(err, EOFError) or (
        isinstance(err, (ValueError, OSError)) and ("length" in text or "truncat" in text or "expected" in text)
    ):
        return DicomError(path, "pixel data is truncated or shorter than the image size")
    return DicomError(path, f"cannot decode pixel data: {type(err).__name__}")


def _decoded(ds, path: str | os.PathLike, uid: str, plugin: str) -> np.ndarray:
    try:
        if plugin:
            ds.pixel_array_options(decoding_plugin=plugin)
        return ds.pixel_array
    except Exception as err:  # decoders raise anything; never a bare traceback
        raise _decoder_failure(path, uid, err) from None


def decode_pixels(ds, path: str | os.PathLike) -> np.ndarray:
    """The stored pixel values (before any LUT) of a dataset opened by :func:`load_dataset`.

    Large uncompressed little-endian images come back as a read-only memory map of the file (no copy);
    copy the array before modifying it in place. Compressed data is checked before a decoder sees it:
    the frame's own header must agree with Rows, Columns, samples and BitsAllocated (some decoders abort
    the process otherwise).

    Raises:
        DicomError: undecodable or unsupported compression (naming the decoder to install), pixel data
            shorter than Rows x Columns x BitsAllocated says (truncated file), a compressed frame that
            disagrees with the header, or a decoder that crashed.
    """
    with _Boundary(path, "cannot decode pixel data"):
        attrs = image_attributes(ds)
        uid = _syntax(ds)
        if not uid:
            raise DicomError(path, "missing or unknown transfer syntax: the pixel data's encoding is not known")
        if uid in _NATIVE_SYNTAXES:
            check_native_length(attrs, _pixel_data_length(ds))
        native = _native_pixels(ds, path, attrs, uid)
        if native is not None:
            return native
        plugin = check_codestream(ds.PixelData, attrs, uid) if uid in CHECKED_SYNTAXES else ""
        pixels = _decoded(ds, path, uid, plugin)
        if pixels.shape != (attrs.rows, attrs.columns):
            raise DicomError(
                path, f"pixel array has shape {pixels.shape}; need one {attrs.rows} x {attrs.columns} grey image"
            )
        return pixels


def read_dicom(path: str | os.PathLike, *, apply_voi: bool = True, voi_index: int = 0) -> DicomImage:
    """Read one DICOM radiograph as float32 grey values where higher means brighter.

    Applies, in order: the modality LUT (RescaleSlope/Intercept or Modality LUT Sequence), the VOI LUT
    (a VOI LUT Sequence, else the window ``voi_index`` with its VOILUTFunction; skipped when
    ``apply_voi`` is False), and for MONOCHROME1 an inversion ``v -> lo + hi - v`` over the output range
    of those transforms for every representable stored value (image-independent, so equal stored
    values map equally in every image). Values equal pydicom's ``apply_modality_lut`` /
    ``apply_voi_lut`` to float32 rounding.

    Args:
        path: the .dcm/.dicom file.
        apply_voi: apply the VOI LUT / window.
        voi_index: which of several windows / VOI LUTs to use.

    The image is always finite: a window that cannot be applied (NaN/inf centre or width, width <= 0) is
    ignored, so the image spans the full modality-LUT range (a DEBUG record says so); a rescale or LUT
    that gives non-finite grey levels is an error.

    Raises:
        DicomError: for every kind of unreadable input, naming the file and the cause (never a raw
            header value: no patient identifier can reach a message or a log record).
    """
    from cxrdet.io.dicom_lut import stored_to_float

    ds = load_dataset(path)
    meta = read_meta(ds, path)
    stored = decode_pixels(ds, path)
    with grey_level_errors(path):
        # finite by construction: every table / deep-image value passed dicom_lut's float32 finiteness check
        # (the DICOM fuzz test checks the result independently), so no extra pass over the image here
        pixels = stored_to_float(ds, stored, apply_voi=apply_voi, voi_index=voi_index)
    return DicomImage(pixels=pixels, meta=meta)
