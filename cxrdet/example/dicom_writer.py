"""DICOM writing for the example dataset, tests and benchmarks: stored pixel values -> a valid CR/DX file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

log = logging.getLogger(__name__)

TRANSFER_SYNTAXES: dict[str, UID] = {
    "explicit": ExplicitVRLittleEndian,
    "rle": RLELossless,
    "jpegls": JPEGLSLossless,
    "j2k": JPEG2000Lossless,
}
"""Short names accepted by :func:`write_dicom` -> transfer syntax UID (all lossless)."""

SOP_CLASSES: dict[str, UID] = {
    "CR": UID("1.2.840.10008.5.1.4.1.1.1"),  # Computed Radiography Image Storage
    "DX": UID("1.2.840.10008.5.1.4.1.1.1.1"),  # Digital X-Ray Image Storage - For Presentation
}

SYNTHETIC_INSTITUTION = "cxrdet synthetic hospital"
FAKE_PHI_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "AccessionNumber",
    "InstitutionName",
    "ReferringPhysicianName",
)
"""Identifying header fields that every written file carries with FAKE values; no output of cxrdet
(PNGs, CSVs, metadata tables, logs) should ever contain them. See :func:`fake_phi`."""

Window = tuple[float, float] | tuple[Sequence[float], Sequence[float]]


def fake_phi(uid_seed: int | str, patient_name: str | None = None) -> dict[str, str]:
    """The fake identifying values written for a ``uid_seed`` (for leak checks in tests).

    Args:
        uid_seed: the seed given to :func:`write_dicom`.
        patient_name: overrides the default ``SYNTHETIC^PATIENT^<uid_seed>``.

    Returns:
        keyword -> value for every keyword in :data:`FAKE_PHI_KEYWORDS`.
    """
    tag = str(uid_seed)
    return {
        "PatientName": patient_name or f"SYNTHETIC^PATIENT^{tag}",
        "PatientID": f"SYNPID-{tag}",
        "PatientBirthDate": "19000101",
        "AccessionNumber": f"SYNACC{tag}"[:16],
        "InstitutionName": SYNTHETIC_INSTITUTION,
        "ReferringPhysicianName": "SYNTHETIC^REFERRER",
    }


def _format_age(age: int | str) -> str:
    if isinstance(age, str):
        return age
    if not 0 <= int(age) <= 999:
        raise ValueError(f"age {age} out of the DICOM AS range 0..999")
    return f"{int(age):03d}Y"


def _check_pixels(pixels: np.ndarray, bits_stored: int) -> np.ndarray:
    if pixels.ndim != 2:
        raise ValueError(f"pixels must be 2-D, got shape {pixels.shape}")
    if pixels.dtype not in (np.uint16, np.int16, np.uint8):
        raise ValueError(f"pixels must be uint16, int16 or uint8 stored values, got {pixels.dtype}")
    if not 1 <= bits_stored <= 16:
        raise ValueError(f"bits_stored must be 1..16, got {bits_stored}")
    signed = pixels.dtype == np.int16
    lo, hi = (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if signed else (0, (1 << bits_stored) - 1)
    pmin, pmax = int(pixels.min()), int(pixels.max())
    if pmin < lo or pmax > hi:
        raise ValueError(f"pixel values {pmin}..{pmax} do not fit BitsStored={bits_stored} ({lo}..{hi})")
    return np.ascontiguousarray(pixels, dtype="<i2" if signed else "<u2")


def _voi_lut_item(voi_lut: np.ndarray | tuple[int, np.ndarray]) -> Dataset:
    first, lut = voi_lut if isinstance(voi_lut, tuple) else (0, voi_lut)
    lut = np.asarray(lut)
    if lut.ndim != 1 or not 1 <= lut.size <= 65536 or lut.min() < 0 or lut.max() > 65535:
        raise ValueError("voi_lut must be a 1-D array of 1..65536 values in 0..65535")
    item = Dataset()
    # LUT Descriptor: number of entries (0 means 65536), first stored value mapped, bits per entry.
    item.LUTDescriptor = [lut.size % 65536, int(first), 16]
    item.LUTExplanation = "SYNTHETIC LUT"
    item.add_new(0x00283006, "OW", lut.astype("<u2").tobytes())  # LUT Data
    return item


# Fastest plugin per syntax here (measured); pydicom's default order is the fallback.
_ENCODER_PLUGIN = {"rle": "pylibjpeg"}
_DECODER_PLUGIN = {"rle": "pylibjpeg", "jpegls": "pyjpegls", "j2k": "gdcm"}


def _compress(ds: Dataset, transfer_syntax: str, arr: np.ndarray) -> None:
    uid = TRANSFER_SYNTAXES[transfer_syntax]
    # generate_instance_uid=False keeps the file deterministic.
    plugin = _ENCODER_PLUGIN.get(transfer_syntax, "")
    try:
        ds.compress(uid, arr, encoding_plugin=plugin, generate_instance_uid=False)
    except (RuntimeError, ValueError):
        if not plugin:
            raise
        ds.compress(uid, arr, generate_instance_uid=False)


def _decode(ds: Dataset, transfer_syntax: str) -> np.ndarray:
    plugin = _DECODER_PLUGIN.get(transfer_syntax, "")
    try:
        ds.pixel_array_options(decoding_plugin=plugin)
        return ds.pixel_array
    except (RuntimeError, ValueError):
        if not plugin:
            raise
        ds.pixel_array_options(decoding_plugin="")
        return ds.pixel_array


def write_dicom(
    path: str | PathLike,
    pixels: np.ndarray,
    *,
    bits_stored: int = 12,
    photometric: str = "MONOCHROME2",
    window: Window | None = None,
    voi_lut: np.ndarray | tuple[int, np.ndarray] | None = None,
    rescale: tuple[float, float] | None = None,
    transfer_syntax: str = "explicit",
    modality: str = "DX",
    sex: str | None = None,
    age: int | str | None = None,
    pixel_spacing: tuple[float, float] | None = None,
    patient_name: str | None = None,
    uid_seed: int | str = 0,
    view_position: str = "PA",
    verify: bool = True,
) -> Path:
    """Write a single-frame grey chest radiograph as a DICOM Part 10 file.

    The file is deterministic: UIDs are derived from ``uid_seed`` and there are no timestamps, so
    the same arguments give the same bytes. Identifying fields get fake values (:func:`fake_phi`).
    Uncompressed writing of a 3072x3072 image takes well under a second.

    Args:
        path: output file (parent folders are created).
        pixels: 2-D stored values; uint16/uint8 (PixelRepresentation 0) or int16 (1). For
            MONOCHROME1 pass the already-inverted stored values (higher = darker on display).
        bits_stored: BitsStored (BitsAllocated is always 16); every value must fit.
        photometric: "MONOCHROME2" or "MONOCHROME1".
        window: VOI window ``(center, width)``, or ``([c1, c2], [w1, w2])`` for several windows.
            Values are in rescaled (modality) units.
        voi_lut: a VOI LUT Sequence item: LUT values (first stored value mapped = 0) or
            ``(first_mapped, values)``; 16 bits per entry.
        rescale: ``(RescaleSlope, RescaleIntercept)``; omitted when None.
        transfer_syntax: "explicit" (Explicit VR Little Endian), "rle" (RLE Lossless),
            "jpegls" (JPEG-LS Lossless) or "j2k" (JPEG 2000 Lossless).
        modality: "DX" (Digital X-Ray Image Storage) or "CR" (Computed Radiography Image Storage).
        sex: PatientSex ("M", "F", "O"); None omits the element, "" writes it empty.
        age: PatientAge as years (int -> "045Y") or a DICOM AS string ("006M"); None omits it.
        pixel_spacing: PixelSpacing (row, column) in mm; omitted when None.
        patient_name: fake PatientName; default ``SYNTHETIC^PATIENT^<uid_seed>``.
        uid_seed: seed of the Study/Series/SOP Instance UIDs and the fake patient fields.
        view_position: ViewPosition.
        verify: decode compressed pixel data again and check it equals ``pixels``.

    Returns:
        The path written.

    Raises:
        ValueError: on an unknown option or pixels that do not fit ``bits_stored``.
        RuntimeError: ``verify`` found that the compressed data does not decode to ``pixels``.
    """
    if transfer_syntax not in TRANSFER_SYNTAXES:
        raise ValueError(f"transfer_syntax must be one of {sorted(TRANSFER_SYNTAXES)}, got {transfer_syntax!r}")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"photometric must be MONOCHROME1 or MONOCHROME2, got {photometric!r}")
    if modality not in SOP_CLASSES:
        raise ValueError(f"modality must be one of {sorted(SOP_CLASSES)}, got {modality!r}")
    arr = _check_pixels(pixels, bits_stored)
    seed = str(uid_seed)
    sop_instance = generate_uid(entropy_srcs=["cxrdet-example", seed, "instance"])

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = SOP_CLASSES[modality]
    ds.SOPInstanceUID = sop_instance
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["cxrdet-example", seed, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["cxrdet-example", seed, "series"])
    ds.StudyDate = "20200101"
    ds.StudyTime = "000000"
    ds.Modality = modality
    ds.Manufacturer = "cxrdet"
    ds.ConversionType = "SYN"
    for keyword, value in fake_phi(uid_seed, patient_name).items():
        setattr(ds, keyword, value)
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if sex is not None:
        ds.PatientSex = sex
    if age is not None:
        ds.PatientAge = _format_age(age)
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view_position
    ds.PatientOrientation = ["L", "F"] if view_position == "PA" else ["R", "F"]
    if pixel_spacing is not None:
        ds.PixelSpacing = [float(pixel_spacing[0]), float(pixel_spacing[1])]

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = (int(n) for n in arr.shape)
    ds.BitsAllocated = 16
    ds.BitsStored = int(bits_stored)
    ds.HighBit = int(bits_stored) - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    if modality == "DX":  # the DX IOD pairs MONOCHROME1 with INVERSE, MONOCHROME2 with IDENTITY
        ds.PresentationLUTShape = "INVERSE" if photometric == "MONOCHROME1" else "IDENTITY"
    if rescale is not None:
        ds.RescaleSlope = float(rescale[0])
        ds.RescaleIntercept = float(rescale[1])
        ds.RescaleType = "US"
    if window is not None:
        center, width = window
        multi = isinstance(center, Sequence) and not isinstance(center, str)
        ds.WindowCenter = [round(float(c), 3) for c in center] if multi else round(float(center), 3)
        ds.WindowWidth = [round(float(w), 3) for w in width] if multi else round(float(width), 3)
        n = len(center) if multi else 1
        ds.WindowCenterWidthExplanation = ["NORMAL", "WIDE", "SOFT", "BONE"][:n] if multi else "NORMAL"
    if voi_lut is not None:
        ds.VOILUTSequence = DicomSequence([_voi_lut_item(voi_lut)])

    if transfer_syntax == "explicit":
        ds.PixelData = arr.tobytes()
    else:
        _compress(ds, transfer_syntax, arr)
        if verify:
            decoded = _decode(ds, transfer_syntax)
            if decoded.shape != arr.shape or not np.array_equal(decoded, arr):
                raise RuntimeError(f"{transfer_syntax} encoding of {path} did not round-trip losslessly")

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    log.debug("wrote %s (%dx%d, %s, %s)", out, ds.Columns, ds.Rows, photometric, transfer_syntax)
    return out
