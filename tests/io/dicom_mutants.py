"""Seeded mutants of real DICOM files, and a crash-proof runner that reads each one with ``read_dicom``.

The seeds are small files shipped with pydicom and pydicom-data (uncompressed explicit/implicit/big-endian,
Deflate, RLE, JPEG baseline/lossless, JPEG-LS, JPEG 2000, MONOCHROME1, rescale, VOI LUT Sequence, Modality
LUT Sequence), each with planted, unique identifying values (:data:`PLANTED`) so that a leak of any of
them into a log record, a warning, an exception message or the metadata is caught too.

A seeded generator (:func:`make_mutants`) damages them: byte flips in the header and in the pixel data,
damaged length fields, truncation, elements set to absurd values (negative, huge, NaN/inf, text,
multi-valued) or written with the wrong VR, LUT items that disagree with their descriptor, and
transfer-syntax swaps. :func:`run_mutants` reads every mutant in a forked child with a memory cap and a
timeout (a few batch processes run side by side, each forking one child per mutant) and classifies the
outcome: ``ok`` (a finite image), ``DicomError: <reason kind>``, or a failure (a foreign exception, a
signal, a timeout, a MemoryError, a non-finite image, or a planted value seen in the output).

Run as a script to fuzz any copy of cxrdet (e.g. an unfixed one, to count what the fuzz finds)::

    python tests/io/dicom_mutants.py --count 300 --seed 20261201 [--cxrdet-root /tmp/old] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

PLANTED = {
    "PatientName": "QZPHINAME^PLANTED",
    "PatientID": "QZPHIID4711",
    "PatientBirthDate": "18870315",
    "AccessionNumber": "QZPHIACC0815",
    "InstitutionName": "QZPHI INSTITUTE",
}
"""Identifying values planted in every seed; none may appear in anything ``read_dicom`` emits."""

LEAK_MARKERS = ("QZPHI", "18870315")
"""Substrings that betray a planted value (also a truncated one: every planted text starts with QZPHI)."""

MEMORY_CAP = 2 << 30  # address space a child may add to what it inherits (RLIMIT_AS): no gigabyte reads
TIMEOUT_S = 20.0  # per mutant; the seeds decode in milliseconds

_TS_UID_TAG = b"\x02\x00\x10\x00UI"
_GROUP_LENGTH_TAG = b"\x02\x00\x00\x00UL\x04\x00"


# ---------------------------------------------------------------------------------------------------
# Seeds: real files, each with planted identifiers


def _testdata(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed (pydicom / pydicom-data)")
    return path


def _plant(ds) -> None:
    for keyword, value in PLANTED.items():
        setattr(ds, keyword, value)


def _jpeg_baseline_from(ds) -> None:
    """Re-encode a grey image as 8-bit JPEG Baseline (Pillow) in place."""
    import numpy as np
    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    pixels = ds.pixel_array.astype(np.float64)
    grey = np.rint((pixels - pixels.min()) * (255.0 / max(1.0, float(np.ptp(pixels))))).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buffer, format="JPEG", quality=90)
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    for keyword in ("WindowCenter", "WindowWidth", "SmallestImagePixelValue", "LargestImagePixelValue"):
        if keyword in ds:
            del ds[keyword]


def _crop_uncompressed(ds, rows: int, columns: int) -> None:
    pixels = ds.pixel_array[:rows, :columns].copy()
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelData = pixels.tobytes()


def _monochrome1(ds) -> None:
    ds.PhotometricInterpretation = "MONOCHROME1"


# name -> (pydicom test file, modification)
SEED_SPECS: dict[str, tuple[str, object]] = {
    "explicit": ("MR_small.dcm", None),
    "implicit": ("MR_small_implicit.dcm", None),
    "bigendian": ("MR_small_bigendian.dcm", None),
    "deflate": ("image_dfl.dcm", None),
    "rle": ("MR_small_RLE.dcm", None),
    "jpeg-baseline": ("MR_small.dcm", _jpeg_baseline_from),
    "jpeg-lossless": ("JPEG-LL.dcm", None),
    "jpeg-lossless-sv1": ("JPGLosslessP14SV1_1s_1f_8b.dcm", None),
    "jpeg-ls": ("MR_small_jpeg_ls_lossless.dcm", None),
    "jpeg-ls-near": ("JPEGLSNearLossless_16.dcm", None),
    "j2k": ("MR_small_jp2klossless.dcm", None),
    "j2k-rescale": ("693_J2KI.dcm", None),
    "monochrome1-large": ("RG3_UNCR.dcm", lambda ds: _crop_uncompressed(ds, 800, 800)),  # > 1 MiB: mmap path
    "monochrome1-rle": ("MR_small_RLE.dcm", _monochrome1),
    "rescale": ("CT_small.dcm", None),
    "voi-lut-sequence": ("vlut_04.dcm", None),
    "modality-lut-sequence": ("mlut_18.dcm", None),
}


def build_seeds(folder: Path) -> dict[str, Path]:
    """Write every seed (a real file, identifiers planted, modified as :data:`SEED_SPECS` says) to ``folder``."""
    with _pydicom_silenced():
        return _build_seeds(folder)


def _build_seeds(folder: Path) -> dict[str, Path]:
    import pydicom

    folder.mkdir(parents=True, exist_ok=True)
    seeds = {}
    for name, (source, modify) in SEED_SPECS.items():
        ds = pydicom.dcmread(_testdata(source))
        if modify is not None:
            modify(ds)
        _plant(ds)
        path = folder / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        seeds[name] = path
    return seeds


# ---------------------------------------------------------------------------------------------------
# Mutations

_DEFLATED, _IMPLICIT, _BIG_ENDIAN = "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"
_TS_UID, _PIXEL_DATA = 0x00020010, 0x7FE00010
_READ_BY_CXRDET = {_TS_UID, 0x00080060, 0x00080005, 0x00080008, 0x00080016}  # TS UID, Modality, charset, ...

INTS = (
    -1,
    0,
    1,
    2,
    7,
    9,
    15,
    17,
    31,
    33,
    40,
    64,
    65,
    255,
    256,
    32767,
    65535,
    65536,
    2**31 - 1,
    2**32 - 1,
    -32768,
    -(2**31),
)
FLOATS = (math.nan, math.inf, -math.inf, 1e300, -1e300, 0.0, -0.0, 1e-300, 0.5, -5.0)
TEXTS = ("abc", "", " ", "12abc", "1\\2", "MONOCHROME3", "DX\\CR", "1e999", "nan", "-inf", "\x00\x01\x02")
MULTI = ([0, 1], [16, 16], [1, 2, 3], [8, 12])
IMAGE_KEYWORDS = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "NumberOfFrames",
    "PlanarConfiguration",
)
OTHER_KEYWORDS = (
    "PhotometricInterpretation",
    "WindowCenter",
    "WindowWidth",
    "RescaleSlope",
    "RescaleIntercept",
    "VOILUTFunction",
    "Modality",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "PatientAge",
    "PatientSex",
    "SpecificCharacterSet",
)
VRS = ("US", "SS", "UL", "SL", "FL", "FD", "DS", "IS", "LO", "CS", "OB", "UN", "UI", "AT")
SYNTAXES = (
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.100",
    "1.2.3.4.5.6.7.8.9",
)
NEAR_MISSES = (
    ("BitsAllocated", lambda v: 32),
    ("Rows", lambda v: v + 1),
    ("Columns", lambda v: v // 2),
    ("Rows", lambda v: v * 2),
    ("Columns", lambda v: v + 1),
    ("BitsStored", lambda v: v + 1),
    ("BitsAllocated", lambda v: 8 if v == 16 else 16),
    ("HighBit", lambda v: v + 8),
    ("SamplesPerPixel", lambda v: 3),
    ("PixelRepresentation", lambda v: 1 - v),
    ("BitsStored", lambda v: v - 4),
    ("Rows", lambda v: v - 1),
)
"""Image attributes a little off, tried in this order on every seed (one too many rows, halved columns, ...)."""

MUTATIONS = (
    "header-flip",
    "length",
    "swallow",
    "pixel-flip",
    "truncate",
    "element",
    "add-element",
    "syntax",
    "meta-length",
    "image-attribute",
    "image-attribute",
    "combo",
)
"""The mutation kinds, used in turn (a near-miss image attribute twice as often)."""


@dataclass(frozen=True)
class Element:
    """Where one top-level element lies in a file.

    Attributes:
        tag: the tag as an int.
        value_at: offset of its value.
        length: its length field's value.
        field_at: offset of its length field.
        field_size: 2 or 4 bytes.
        order: "<" or ">".
    """

    tag: int
    value_at: int
    length: int
    field_at: int
    field_size: int
    order: str

    @property
    def name(self) -> str:
        return f"({self.tag >> 16:04X},{self.tag & 0xFFFF:04X})"

    @property
    def largest_length(self) -> int:
        return (1 << (8 * self.field_size)) - 1

    def with_length(self, raw: bytes, length: int) -> bytes:
        """``raw`` with this element's length field set to ``length`` (clipped to what the field holds)."""
        code = self.order + ("I" if self.field_size == 4 else "H")
        packed = struct.pack(code, max(0, min(length, self.largest_length)))
        return raw[: self.field_at] + packed + raw[self.field_at + self.field_size :]


def elements(raw: bytes) -> list[Element]:
    """The top-level elements of the file meta and (unless deflated) of the dataset, in file order."""
    import pydicom
    from pydicom.filereader import data_element_offset_to_value

    ds = pydicom.dcmread(io.BytesIO(raw), defer_size=64)
    syntax = ds.file_meta.get("TransferSyntaxUID")
    found = []
    for dataset in (ds.file_meta,) if syntax == _DEFLATED else (ds.file_meta, ds):
        implicit = syntax == _IMPLICIT and dataset is ds
        order = ">" if syntax == _BIG_ENDIAN and dataset is ds else "<"
        for tag in dataset.keys():  # noqa: SIM118 - iterating the dataset would convert every value
            elem = dataset.get_item(tag, keep_deferred=True)
            at = getattr(elem, "value_tell", None)  # a raw element; a converted one knows file_tell
            at = getattr(elem, "file_tell", None) if at is None else at
            if at is None:
                continue
            size = 4 if implicit or data_element_offset_to_value(False, getattr(elem, "VR", None)) == 12 else 2
            (length,) = struct.unpack(order + ("I" if size == 4 else "H"), raw[at - size : at])
            found.append(Element(int(tag), at, length, at - size, size, order))
    return sorted(found, key=lambda e: e.value_at)


def _pixel_offset(raw: bytes, found: list[Element]) -> int:
    pixel = [e.value_at for e in found if e.tag == _PIXEL_DATA]
    return min(pixel[0] if pixel else len(raw) * 3 // 4, len(raw) - 1)


def _absurd_value(rng: random.Random):
    kind = rng.choice(("int", "int", "float", "text", "multi"))
    if kind == "int":
        return rng.choice(INTS)
    if kind == "float":
        return rng.choice(FLOATS)
    if kind == "text":
        return rng.choice(TEXTS)
    return list(rng.choice(MULTI))


def _vr_for(rng: random.Random, value, current: str | None) -> str:
    if rng.random() < 0.35:
        return rng.choice(VRS)  # often the wrong one
    if isinstance(value, str):
        return "LO"
    if isinstance(value, float):
        return "FD" if not math.isfinite(value) or rng.random() < 0.5 else "DS"
    return current or "US"


def _encode(value, vr: str, little: bool) -> bytes:
    """Raw bytes of ``value`` written as ``vr`` (whatever fits; struct raises when nothing does)."""
    values = value if isinstance(value, list) else [value]
    if vr in ("US", "SS", "UL", "SL", "FL", "FD", "AT"):
        code = ("<" if little else ">") + {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "AT": "I"}[
            vr
        ]
        if any(isinstance(v, str) for v in values):
            return "\\".join(map(str, values)).encode("latin-1")
        return b"".join(struct.pack(code, v if code[-1] in "fd" else int(v) if math.isfinite(v) else 0) for v in values)
    data = "\\".join(repr(v) if isinstance(v, float) else str(v) for v in values).encode("latin-1")
    return data + (b" " if len(data) % 2 else b"")


def _put_raw(ds, target, tag, vr: str, raw: bytes) -> None:
    """Store ``raw`` as the element's bytes (with ``vr``, which may be the wrong one); written as they are."""
    from pydicom.dataelem import RawDataElement

    implicit = ds.file_meta.TransferSyntaxUID == _IMPLICIT
    little = ds.file_meta.TransferSyntaxUID != _BIG_ENDIAN
    target[tag] = RawDataElement(tag, None if implicit else vr, len(raw), raw, 0, implicit, little)


def _near_miss(index: int):
    """A mutation setting image attribute ``NEAR_MISSES[index]`` a little off."""

    def apply(rng: random.Random, ds, description: list[str]) -> None:
        from pydicom.datadict import tag_for_keyword
        from pydicom.dataelem import DataElement

        keyword, change = NEAR_MISSES[index % len(NEAR_MISSES)]
        value = max(0, change(int(ds.get(keyword, 1 if keyword == "SamplesPerPixel" else 0))))
        ds[keyword] = DataElement(tag_for_keyword(keyword), "US", value)
        description.append(f"{keyword}={value}")

    return apply


def _lut_field_value(rng: random.Random, keyword: str, value):
    """Mostly plausible-looking but damaged LUT descriptors and data."""
    if keyword == "LUTDescriptor" and rng.random() < 0.7:
        return [
            rng.choice((0, 1, 100, 256, 4096, 65535)),
            rng.choice((0, -1, 100, 40000)),
            rng.choice((0, 1, 8, 12, 16, 17, 32, 40)),
        ]
    if keyword == "LUTData" and rng.random() < 0.7:
        return bytes(rng.randrange(256) for _ in range(rng.choice((0, 2, 7, 100, 511))))
    return value


def _set_element(rng: random.Random, ds, description: list[str]) -> None:
    """Overwrite one image/LUT/window element (or a LUT item field) with an absurd value and maybe a wrong VR."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.tag import Tag

    target, keywords = ds, list(IMAGE_KEYWORDS) * 2 + list(OTHER_KEYWORDS)
    for sequence in ("VOILUTSequence", "ModalityLUTSequence"):
        if sequence in ds and len(ds[sequence].value) and rng.random() < 0.5:
            target, keywords = ds[sequence].value[0], ["LUTDescriptor", "LUTData", "LUTDescriptor"]
            description.append(sequence)
            break
    keyword = rng.choice(keywords)
    tag = Tag(tag_for_keyword(keyword))
    value = _absurd_value(rng)
    current = target.get(keyword) if keyword in IMAGE_KEYWORDS else None
    if isinstance(current, int) and rng.random() < 0.5:  # near misses: one too many, halved, ...
        value = rng.choice((current + 1, current - 1, current * 2, current // 2, 1, 8, 16, 32, 64))
    value = _lut_field_value(rng, keyword, value)
    vr = "OW" if isinstance(value, bytes) else _vr_for(rng, value, dictionary_VR(tag).split(" or ")[0])
    try:
        raw = value if isinstance(value, bytes) else _encode(value, vr, ds.file_meta.TransferSyntaxUID != _BIG_ENDIAN)
    except (struct.error, OverflowError, ValueError, TypeError):
        vr, raw = "LO", _encode(str(value), "LO", True)
    _put_raw(ds, target, tag, vr, raw)
    description.append(f"{keyword}={value!r:.40} as {vr}")


def _add_element(rng: random.Random, ds, description: list[str]) -> None:
    """Add a window, rescale or LUT that is damaged: NaN/inf/absurd numbers, short or over-deep LUT data."""
    import numpy as np
    from pydicom.dataset import Dataset

    choice = rng.choice(("window", "rescale", "voi-lut", "modality-lut"))
    if choice == "window":
        ds.WindowCenter, ds.WindowWidth = rng.choice(FLOATS + (40.0,)), rng.choice(FLOATS + (400.0, 0.5))
    elif choice == "rescale":
        ds.RescaleSlope, ds.RescaleIntercept = rng.choice(FLOATS + (1.0,)), rng.choice(FLOATS + (0.0,))
    else:
        item = Dataset()
        entries = rng.choice((1, 256, 4096, 0))
        item.LUTDescriptor = [entries, rng.choice((0, -100, 100)), rng.choice((8, 16, 12, 40, 1))]
        n = rng.choice((0, 1, 100, entries or 65536, (entries or 65536) * 2))
        item.add_new(0x00283006, "OW", np.arange(n, dtype="<u2").tobytes())
        if choice == "voi-lut":
            ds.VOILUTSequence = [item]
        else:
            item.ModalityLUTType = "HU"
            ds.ModalityLUTSequence = [item]
    description.append(f"added damaged {choice}")


def _rewrite(rng: random.Random, raw: bytes, change) -> tuple[bytes, str]:
    """Parse ``raw``, let ``change(rng, ds, description)`` damage the dataset, write it back as it is."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(raw))
    description: list[str] = []
    change(rng, ds, description)
    return unvalidated_bytes(ds), "; ".join(description)


def unvalidated_bytes(ds) -> bytes:
    """``ds`` as a Part 10 file, written as it is (values pydicom would refuse to write included)."""
    from pydicom import config

    out = io.BytesIO()
    saved = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        ds.save_as(out, enforce_file_format=True)
    finally:
        config.settings.writing_validation_mode = saved
    return out.getvalue()


def replace_transfer_syntax(raw: bytes, uid: str) -> bytes:
    """The same bytes with another TransferSyntaxUID in the file meta (group length fixed; data untouched)."""
    at = raw.index(_TS_UID_TAG, 128)
    (length,) = struct.unpack("<H", raw[at + 6 : at + 8])
    value = uid.encode() + (b"\x00" if len(uid) % 2 else b"")
    out = raw[: at + 6] + struct.pack("<H", len(value)) + value + raw[at + 8 + length :]
    group = out.find(_GROUP_LENGTH_TAG, 128, at)
    if group >= 0:
        (old,) = struct.unpack("<I", out[group + 8 : group + 12])
        out = out[: group + 8] + struct.pack("<I", old + len(value) - length) + out[group + 12 :]
    return out


def _flip(rng: random.Random, raw: bytes, lo: int, hi: int, count: int) -> bytes:
    data = bytearray(raw)
    for _ in range(count):
        at = rng.randrange(lo, max(lo + 1, hi))
        data[at] = rng.randrange(256) if rng.random() < 0.5 else data[at] ^ (1 << rng.randrange(8))
    return bytes(data)


def _damage_length(rng: random.Random, raw: bytes, found: list[Element]) -> tuple[bytes, str]:
    """Any element's length field: all ones, ~4 GiB, a little more, doubled, one bit flipped, random, zero."""
    victim = rng.choice(found)
    old, top = victim.length, victim.largest_length
    new = (
        rng.choice(
            (
                top,
                top - 15,
                old + 1,
                old + 2,
                old * 2 + 2,
                old ^ (1 << rng.randrange(8 * victim.field_size)),
                rng.randrange(top + 1),
                0,
            )
        )
        & top
    )
    return victim.with_length(raw, new), f"length at {victim.field_at}: {old} -> {new}"


def _swallow(rng: random.Random, raw: bytes, found: list[Element]) -> tuple[bytes, str]:
    """Lengthen an element (often the TransferSyntaxUID) so that its value swallows a planted identifier."""
    from pydicom.datadict import tag_for_keyword

    planted = [e for e in found if e.tag in {tag_for_keyword(k) for k in PLANTED}]
    if not planted:
        raise ValueError("no planted element at a known offset (deflated?)")
    target = rng.choice(planted)
    end = target.value_at + target.length
    before = [e for e in found if e.value_at < target.value_at and end - e.value_at <= e.largest_length]
    read = [e for e in before if e.tag in _READ_BY_CXRDET]  # elements whose value the reader looks at
    ts = [e for e in before if e.tag == _TS_UID]
    luck = rng.random()
    victim = ts[0] if ts and luck < 0.4 else rng.choice(read) if read and luck < 0.8 else rng.choice(before)
    new = end - victim.value_at + rng.choice((0, 0, 2, 8, 64))
    return victim.with_length(raw, new), f"length of {victim.name} -> {new}: swallows a planted value"


def _damage_meta_length(rng: random.Random, raw: bytes, found: list[Element]) -> tuple[bytes, str]:
    """A file-meta element whose length field says (nearly) 4 GiB, or just a little too much."""
    victim = rng.choice([e for e in found if e.tag >> 16 == 2])
    top = victim.largest_length
    new = rng.choice((top - 15, top - 1, victim.length + 2, victim.length + 0x80, victim.length | 0x100)) & top
    return victim.with_length(raw, new), f"meta length of {victim.name} -> {new}"


def mutate(rng: random.Random, raw: bytes, kind: str) -> tuple[bytes, str]:
    """One mutant of ``raw`` of the given kind (see :data:`MUTATIONS`), and a description of what was done."""
    found = elements(raw)
    pixels_at = _pixel_offset(raw, found)
    if kind == "header-flip":
        count = rng.choice((1, 1, 2, 4))
        return _flip(rng, raw, 132, pixels_at, count), f"{count} header byte(s) flipped"
    if kind == "pixel-flip":
        count = rng.choice((1, 4, 32))
        return _flip(rng, raw, pixels_at, len(raw), count), f"{count} pixel byte(s) flipped"
    if kind == "truncate":
        cut = rng.randrange(0, len(raw)) if rng.random() < 0.5 else rng.randrange(132, pixels_at + 64)
        return raw[:cut], f"truncated at {cut} of {len(raw)}"
    if kind == "syntax":
        uid = rng.choice(SYNTAXES)
        return replace_transfer_syntax(raw, uid), f"transfer syntax -> {uid}"
    damage = {"length": _damage_length, "swallow": _swallow, "meta-length": _damage_meta_length}.get(kind)
    if damage is not None:
        return damage(rng, raw, found)
    change = {"element": _set_element, "add-element": _add_element}.get(kind)
    if kind.startswith("image-attribute#"):
        change = _near_miss(int(kind.rsplit("#", 1)[1]))
    if change is not None:
        return _rewrite(rng, raw, change)
    first, second = rng.sample(("header-flip", "length", "pixel-flip", "element", "syntax"), 2)  # "combo"
    raw, one = mutate(rng, raw, first)
    try:
        raw, two = mutate(rng, raw, second)
    except Exception as err:  # the first mutation may leave nothing pydicom can re-parse
        two = f"(second mutation skipped: {type(err).__name__})"
    return raw, f"{one} + {two}"


@dataclass(frozen=True)
class Mutant:
    """One file to read: ``path``, made from ``seed`` by ``kind`` as ``description`` says."""

    path: str
    seed: str
    kind: str
    description: str


@contextmanager
def _pydicom_silenced():
    """pydicom complains about every damaged file the generator parses: not worth showing."""
    import logging

    logger = logging.getLogger("pydicom")
    disabled, logger.disabled = logger.disabled, True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = disabled


def make_mutants(seeds: dict[str, Path], folder: Path, count: int, seed: int) -> list[Mutant]:
    """``count`` mutants spread evenly over the seeds and mutation kinds, deterministic for ``seed``."""
    with _pydicom_silenced():
        return _make_mutants(seeds, folder, count, seed)


def _make_mutants(seeds: dict[str, Path], folder: Path, count: int, seed: int) -> list[Mutant]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(seeds)
    originals = {name: seeds[name].read_bytes() for name in names}
    mutants = []
    near_misses: Counter = Counter()
    for i in range(count):
        name, kind = names[i % len(names)], MUTATIONS[(i // len(names)) % len(MUTATIONS)]
        if kind == "image-attribute":
            kind = f"image-attribute#{near_misses[name]}"
            near_misses[name] += 1
        try:
            raw, description = mutate(rng, originals[name], kind)
        except Exception as err:  # an impossible rewrite becomes a plain byte flip
            raw, description = (
                _flip(rng, originals[name], 132, len(originals[name]), 2),
                (f"{kind} failed ({type(err).__name__}); 2 bytes flipped"),
            )
            kind = "header-flip"
        path = folder / f"m{i:04d}-{name}-{kind.replace('#', '')}.dcm"
        path.write_bytes(raw)
        mutants.append(Mutant(str(path), name, kind, description))
    return mutants


# ---------------------------------------------------------------------------------------------------
# Running: batch processes, one forked child per mutant


@dataclass
class Outcome:
    """How reading one file ended. ``status``: ok, DicomError, or a failure class (see :data:`FAILURES`)."""

    path: str
    status: str
    detail: str = ""
    seconds: float = 0.0
    message: str = ""  # the DicomError's full message

    @property
    def failed(self) -> bool:
        return self.status not in ("ok", "DicomError")

    @property
    def label(self) -> str:
        return f"{self.status}: {self.detail}" if self.detail else self.status


FAILURES = ("foreign", "signal", "timeout", "memory", "nonfinite", "leak", "no-result")


def reason_kind(reason: str) -> str:
    """A DicomError reason without its numbers: what the table counts."""
    return re.sub(r"\d+", "N", reason)[:90]


def _leak(texts: list[tuple[str, str]]) -> str | None:
    """Where the first planted value shows up ("log record", "warning", ...), or None."""
    for source, text in texts:
        if any(marker in text for marker in LEAK_MARKERS):
            return source
    return None


def _class_name(err: BaseException) -> str:
    module = type(err).__module__
    return type(err).__qualname__ if module in ("builtins", None) else f"{module}.{type(err).__qualname__}"


def _child_read(path: str) -> dict:
    """Runs in the forked child: read one file, report how it ended and whether anything leaked."""
    import logging

    import numpy as np

    from cxrdet.errors import DicomError
    from cxrdet.io.dicom import read_dicom

    texts: list[tuple[str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record):
            texts.append(("a log record", record.getMessage()))

    root = logging.getLogger()
    root.handlers[:] = [Keep(level=logging.DEBUG)]
    root.setLevel(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):  # no library may keep its records from the check
        logging.getLogger(name).disabled = False
    warnings.resetwarnings()
    warnings.simplefilter("always")
    warnings.showwarning = lambda message, *args, **kwargs: texts.append(("a warning", str(message)))
    result: dict = {}
    try:
        image = read_dicom(path)
        texts.append(("the metadata", repr(image.meta)))
        finite = bool(np.isfinite(image.pixels).all())
        result = {"status": "ok" if finite else "nonfinite", "detail": "" if finite else "image has NaN/inf"}
    except DicomError as err:
        texts.append(("the DicomError", str(err)))
        memory = "MemoryError" in str(err)
        result = {
            "status": "memory" if memory else "DicomError",
            "detail": reason_kind(err.reason),
            "message": str(err)[:1000],
        }
    except MemoryError:
        result = {"status": "memory", "detail": "MemoryError"}
    except BaseException as err:  # the whole point: anything else is a finding
        texts.append(("the exception", str(err)))
        result = {"status": "foreign", "detail": _class_name(err)}
    source = _leak(texts)
    if source:
        result = {"status": "leak", "detail": f"a planted identifier in {source} ({result['status']})"}
    return result


def _address_space() -> int:
    """This process's virtual memory size in bytes (VmSize)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def read_isolated(
    path: str, *, timeout_s: float = TIMEOUT_S, memory_cap: int = MEMORY_CAP, stderr_path: str = os.devnull
) -> Outcome:
    """``read_dicom(path)`` in a forked child with a memory cap and a timeout: how it ended.

    A decoder that aborts or a length that makes someone allocate gigabytes ends the child, not the caller.
    """
    return _run_one(path, timeout_s, memory_cap, stderr_path)


def _run_one(path: str, timeout_s: float, memory_cap: int, stderr_path: str) -> Outcome:
    import resource

    read_end, write_end = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        try:
            limit = _address_space() + memory_cap
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 2)
            result = _child_read(path)
            os.write(write_end, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks, deadline = [], start + timeout_s
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([read_end], [], [], left)
        if ready:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    seconds = time.monotonic() - start
    if timed_out:
        return Outcome(path, "timeout", f"> {timeout_s:.0f} s", seconds)
    if os.WIFSIGNALED(status):
        return Outcome(path, "signal", signal.Signals(os.WTERMSIG(status)).name, seconds)
    if not chunks:
        return Outcome(path, "no-result", f"exit status {os.WEXITSTATUS(status)}", seconds)
    result = json.loads(b"".join(chunks))
    return Outcome(path, result["status"], result["detail"], seconds, result.get("message", ""))


def _warm_up() -> None:
    """Import cxrdet, pydicom and every decoder once, so that each forked child starts at once."""
    import importlib

    import cxrdet.io.dicom
    import cxrdet.io.dicom_lut  # noqa: F401

    for name in (
        "pydicom.pixels.decoders.gdcm",
        "pydicom.pixels.decoders.pylibjpeg",
        "pydicom.pixels.decoders.pyjpegls",
        "pydicom.pixels.decoders.rle",
        "pydicom.pixels.decoders.pillow",
        "gdcm",
        "openjpeg",
        "rle",
        "jpeg_ls",
        "PIL.Image",
        "cv2",
    ):
        with suppress(ImportError):
            importlib.import_module(name)


def worker(jobs_path: str, results_path: str) -> None:
    """One batch process: read the jobs file (paths + limits), fork a child per path, write the outcomes."""
    jobs = json.loads(Path(jobs_path).read_text())
    _warm_up()
    outcomes = []
    stderr_path = results_path + ".stderr"
    for path in jobs["paths"]:
        outcomes.append(asdict(_run_one(path, jobs["timeout_s"], jobs["memory_cap"], stderr_path)))
    Path(results_path).write_text(json.dumps(outcomes))


def _importable_cxrdet_root() -> str:
    """The folder holding the cxrdet this process imports (an editable install, PYTHONPATH), else this repo's."""
    try:
        import cxrdet
    except ImportError:
        return str(Path(__file__).resolve().parents[2])
    return str(Path(cxrdet.__file__).resolve().parents[1])


def run_mutants(
    paths: list[str],
    *,
    workdir: Path,
    batches: int = 2,
    timeout_s: float = TIMEOUT_S,
    memory_cap: int = MEMORY_CAP,
    cxrdet_root: str | None = None,
) -> list[Outcome]:
    """Read every path in ``batches`` batch processes running side by side; the outcomes in input order.

    Args:
        paths: the files.
        workdir: where job and result files go.
        batches: batch processes (each forks one child per file, one at a time).
        timeout_s: per file.
        memory_cap: address space each child may add to what it inherits (RLIMIT_AS), in bytes.
        cxrdet_root: a folder holding the ``cxrdet`` package to test (default: the one importable here).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    root = cxrdet_root or _importable_cxrdet_root()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("RUST_BACKTRACE", "0")
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    procs = []
    for b in range(batches):
        jobs = workdir / f"jobs{b}.json"
        results = workdir / f"results{b}.json"
        jobs.write_text(json.dumps({"paths": paths[b::batches], "timeout_s": timeout_s, "memory_cap": memory_cap}))
        command = [sys.executable, str(Path(__file__).resolve()), "worker", str(jobs), str(results)]
        procs.append((subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT), results))
    outcomes: list[Outcome | None] = [None] * len(paths)
    for b, (proc, results) in enumerate(procs):
        output = proc.communicate()[0].decode(errors="replace")
        if proc.returncode != 0 or not results.exists():
            raise RuntimeError(f"fuzz batch {b} failed (exit {proc.returncode}):\n{output[-3000:]}")
        for i, outcome in zip(range(b, len(paths), batches), json.loads(results.read_text())):
            outcomes[i] = Outcome(**outcome)
    return [o for o in outcomes if o is not None]


def summary(outcomes: list[Outcome], mutants: list[Mutant] | None = None) -> str:
    """The outcome table: counts by class (ok, each DicomError reason kind, each failure class)."""
    counts = Counter(o.label for o in outcomes)
    failures = sum(o.failed for o in outcomes)
    lines = [
        f"{len(outcomes)} files read: {sum(o.status == 'ok' for o in outcomes)} ok, "
        f"{sum(o.status == 'DicomError' for o in outcomes)} DicomError, {failures} failures"
    ]
    for label, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {n:4d}  {label}")
    if failures and mutants is not None:
        by_path = {m.path: m for m in mutants}
        lines.append("failures:")
        for o in outcomes:
            if o.failed:
                m = by_path.get(o.path)
                what = f"{m.seed} / {m.kind}: {m.description}" if m else o.path
                lines.append(f"  {o.label}  <- {what}")
    return "\n".join(lines)


def fuzz(
    workdir: Path, count: int, seed: int, *, batches: int = 2, cxrdet_root: str | None = None
) -> tuple[list[Mutant], list[Outcome], list[Outcome], float]:
    """Seeds + mutants + run: (mutants, outcomes of the mutants, outcomes of the unmutated seeds, seconds)."""
    start = time.monotonic()
    seeds = build_seeds(workdir / "seeds")
    mutants = make_mutants(seeds, workdir / "mutants", count, seed)
    (workdir / "mutants.json").write_text(json.dumps([asdict(m) for m in mutants], indent=1))
    paths = [str(p) for p in seeds.values()] + [m.path for m in mutants]
    outcomes = run_mutants(paths, workdir=workdir / "run", batches=batches, cxrdet_root=cxrdet_root)
    (workdir / "outcomes.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    return mutants, outcomes[len(seeds) :], outcomes[: len(seeds)], time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "worker":
        worker(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--cxrdet-root", default=None, help="folder holding the cxrdet package to fuzz")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dicom-fuzz-"))
    mutants, outcomes, seeds, seconds = fuzz(
        workdir, args.count, args.seed, batches=args.batches, cxrdet_root=args.cxrdet_root
    )
    print("unmutated seeds:", summary(seeds).splitlines()[0])
    print(summary(outcomes, mutants))
    print(f"wall time {seconds:.1f} s ({workdir})")
    return 1 if any(o.failed for o in outcomes + seeds) else 0


if __name__ == "__main__":
    sys.exit(main())
