"""DICOM in: read one radiograph into a single grey float image (modality LUT, VOI, MONOCHROME1) + metadata.

This is the first stage of the pipeline. Every failure becomes a :class:`~cxrdet.errors.DicomError` that
names the file and the cause; no patient-identifying field (name, ID, birth date, accession number,
institution) is ever copied into :class:`DicomMeta`, so nothing downstream can leak it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cxrdet.errors import DicomError
from cxrdet.structures import ImageMeta

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
        modality: Modality (e.g. "DX", "CR"), or None.
        transfer_syntax: the transfer syntax name (e.g. "JPEG 2000 Image Compression (Lossless Only)").
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

    def to_image_meta(self) -> ImageMeta:
        return ImageMeta(self.image_id, self.rows, self.columns, self.sex, self.age_years)

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


def _parse_spacing(ds) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is None:
            continue
        try:
            spacing = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if len(spacing) == 2 and all(s > 0 for s in spacing):
            return spacing  # type: ignore[return-value]
    return None


def _read_without_preamble(path: Path):
    import pydicom

    try:
        ds = pydicom.dcmread(path, force=True, defer_size=_DEFER_BYTES)
        if "PixelData" in ds and int(ds.Rows) >= 0:
            return ds
    except Exception:  # noqa: BLE001 - any parse failure means "not DICOM"
        pass
    raise DicomError(path, "not a DICOM file (no 'DICM' preamble and no readable image dataset)")


def load_dataset(path: str | os.PathLike):
    """Read a DICOM file and check it holds exactly one grey image.

    Raises:
        DicomError: not DICOM, truncated/corrupt header, no pixel data, multi-frame, colour, zero-sized.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    try:
        ds = pydicom.dcmread(path, defer_size=_DEFER_BYTES)
    except FileNotFoundError:
        raise DicomError(path, "file not found") from None
    except IsADirectoryError:
        raise DicomError(path, "is a directory, not a DICOM file") from None
    except InvalidDicomError:  # no preamble: some writers omit it; accept only a real image dataset
        ds = _read_without_preamble(path)
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise DicomError(path, f"truncated or corrupt DICOM header: {type(err).__name__}") from None
    if "PixelData" not in ds:
        raise DicomError(path, "no PixelData element (not an image, or the file is truncated)")
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        int(ds.BitsStored)
    except (AttributeError, TypeError, ValueError) as err:
        raise DicomError(path, f"missing or bad image attribute ({err})") from None
    if rows <= 0 or columns <= 0:
        raise DicomError(path, f"zero-sized image ({rows} x {columns})")
    if samples != 1:
        photometric = ds.get("PhotometricInterpretation", "?")
        raise DicomError(path, f"colour image ({samples} samples per pixel, {photometric}); need one grey image")
    if frames != 1:
        raise DicomError(path, f"multi-frame image ({frames} frames); need a single frame")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DicomError(path, f"photometric interpretation {photometric!r} is not a grey image")
    return ds


def read_meta(ds, path: str | os.PathLike) -> DicomMeta:
    """Non-identifying metadata of a dataset opened by :func:`load_dataset`."""
    transfer_syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    return DicomMeta(
        image_id=Path(path).stem,
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        photometric=str(ds.PhotometricInterpretation).strip(),
        bits_stored=int(ds.BitsStored),
        signed=int(ds.get("PixelRepresentation", 0) or 0) == 1,
        pixel_spacing=_parse_spacing(ds),
        sex=_parse_sex(ds.get("PatientSex")),
        age_years=parse_age(ds.get("PatientAge")),
        modality=str(ds.Modality) if ds.get("Modality") else None,
        transfer_syntax=transfer_syntax.name if transfer_syntax else "unknown",
    )


def _max_value(pixels: np.ndarray):
    import cv2  # SIMD min/max: several times faster than numpy's max on a 9 M-pixel image

    return cv2.minMaxLoc(pixels)[1]


def _native_pixels(ds, path: str | os.PathLike) -> np.ndarray | None:
    """Uncompressed little-endian pixels mapped straight from the file (no copy), or None if not applicable.

    Equal to ``ds.pixel_array``: unused high bits are masked as pydicom does (only when any is set).
    """
    uid = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    bits_allocated = int(ds.get("BitsAllocated", 0) or 0)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    if uid not in _NATIVE_LITTLE_ENDIAN or bits_allocated not in (8, 16):
        return None
    raw = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    offset = getattr(raw, "value_tell", None)
    if raw is None or getattr(raw, "value", b"") is not None or offset is None:
        return None  # already read into memory (small file): pydicom's own path is as fast
    bits_stored = int(ds.BitsStored)
    if signed and bits_stored < bits_allocated:
        return None  # sign extension of unused bits: leave to pydicom
    rows, columns = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype(("<i" if signed else "<u") + str(bits_allocated // 8))
    needed = rows * columns * dtype.itemsize
    if int(raw.length) < needed or os.path.getsize(path) < offset + needed:
        raise DicomError(path, "pixel data is truncated or shorter than the image size")
    pixels = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(rows, columns))
    if not signed and bits_stored < bits_allocated and int(_max_value(pixels)) >> bits_stored:
        pixels = np.bitwise_and(pixels, (1 << bits_stored) - 1)
    return pixels


def decode_pixels(ds, path: str | os.PathLike) -> np.ndarray:
    """The stored pixel values (before any LUT) of a dataset opened by :func:`load_dataset`.

    Large uncompressed little-endian images come back as a read-only memory map of the file (no copy);
    copy the array before modifying it in place.

    Raises:
        DicomError: undecodable or unsupported compression (naming the decoder to install), or
            pixel data shorter than Rows x Columns x BitsAllocated says (truncated file).
    """
    native = _native_pixels(ds, path)
    if native is not None:
        return native
    uid = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    try:
        pixels = ds.pixel_array
    except (NotImplementedError, RuntimeError, ImportError) as err:
        hint = _DECODER_HINTS.get(uid, "no known decoder for this transfer syntax")
        name = getattr(ds.file_meta.get("TransferSyntaxUID"), "name", uid)
        raise DicomError(path, f"cannot decode transfer syntax {name} ({type(err).__name__})", hint) from None
    except (ValueError, EOFError, OSError) as err:
        text = str(err).lower()
        if "length" in text or "truncat" in text or "expected" in text or isinstance(err, EOFError):
            raise DicomError(path, "pixel data is truncated or shorter than the image size") from None
        raise DicomError(path, f"cannot decode pixel data: {type(err).__name__}") from None
    except Exception as err:  # noqa: BLE001 - decoders raise anything; never a bare traceback
        raise DicomError(path, f"cannot decode pixel data: {type(err).__name__}") from None
    if pixels.ndim != 2:
        raise DicomError(path, f"pixel array has shape {pixels.shape}; need one 2-D grey image")
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

    Raises:
        DicomError: for every kind of unreadable input, naming the file and the cause.
    """
    from cxrdet.preprocess.intensity import stored_to_float

    ds = load_dataset(path)
    meta = read_meta(ds, path)
    stored = decode_pixels(ds, path)
    try:
        pixels = stored_to_float(ds, stored, apply_voi=apply_voi, voi_index=voi_index)
    except (ValueError, IndexError, KeyError, AttributeError, TypeError) as err:
        raise DicomError(path, f"bad modality/VOI LUT attributes: {err}") from None
    return DicomImage(pixels=pixels, meta=meta)
