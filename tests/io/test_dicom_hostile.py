"""read_dicom on real files damaged in every way a hostile test found: a DicomError naming the file, or a
finite image with the documented fallback; never a foreign exception, a crash, or a leaked identifier."""

from __future__ import annotations

import io
import logging
import math
import struct
import warnings
from pathlib import Path

import dicom_mutants
import numpy as np
import pydicom
import pytest
from pydicom import config
from pydicom.data import get_testdata_file
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from cxrdet.errors import DicomError
from cxrdet.io.dicom import read_dicom
from cxrdet.io.dicom_terms import MODALITIES
from cxrdet.preprocess.images import dicom_to_display
from cxrdet.preprocess.intensity import to_display

DEFLATED = "1.2.840.10008.1.2.1.99"


def real_file(name: str) -> str:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} should ship with pydicom or pydicom-data (a test dependency)"
    return path


def expect_error(path, *words) -> str:
    """read_dicom and dicom_to_display both raise a DicomError naming the file (and ``words``)."""
    with pytest.raises(DicomError) as info:
        read_dicom(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    with pytest.raises(DicomError) as info:
        dicom_to_display(path, 64)
    assert str(path) in str(info.value)
    return message


def save(ds, path: Path) -> Path:
    """Write ``ds`` as it is (values pydicom would refuse included)."""
    path.write_bytes(dicom_mutants.unvalidated_bytes(ds))
    return path


def raw_element(ds, keyword: str, raw: bytes, vr: str) -> None:
    """Put ``raw`` bytes as the element's value, with ``vr`` (which may be the wrong one)."""
    tag = Tag(pydicom.datadict.tag_for_keyword(keyword))
    ds[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)


def with_element(name: str, tmp_path: Path, keyword: str, raw: bytes, vr: str) -> Path:
    ds = pydicom.dcmread(real_file(name))
    raw_element(ds, keyword, raw, vr)
    return save(ds, tmp_path / f"{keyword}.dcm")


def large_file(tmp_path: Path, **changes) -> Path:
    """RG3_UNCR.dcm (6 MB: its pixels are memory-mapped, the fast path) with attributes changed."""
    ds = pydicom.dcmread(real_file("RG3_UNCR.dcm"))
    for keyword, value in changes.items():
        ds[keyword] = DataElement(Tag(pydicom.datadict.tag_for_keyword(keyword)), "SS" if value < 0 else "US", value)
    return save(ds, tmp_path / "large.dcm")


# ---------------------------------------------------------------------------------------------------
# 1. foreign exceptions become DicomErrors, fixed where they arise


def test_truncated_deflate_file(tmp_path):
    raw = Path(real_file("image_dfl.dcm")).read_bytes()
    (tmp_path / "dfl.dcm").write_bytes(raw[: len(raw) - 1500])  # was zlib.error
    expect_error(tmp_path / "dfl.dcm", "Deflate")


def test_file_relabelled_as_deflated(tmp_path):
    raw = Path(real_file("MR_small.dcm")).read_bytes()
    (tmp_path / "relabelled.dcm").write_bytes(dicom_mutants.replace_transfer_syntax(raw, DEFLATED))  # zlib.error
    expect_error(tmp_path / "relabelled.dcm", "Deflate")


@pytest.mark.parametrize("keyword", ["PixelRepresentation", "BitsAllocated"])
def test_text_in_an_integer_attribute(tmp_path, keyword):
    path = with_element("MR_small.dcm", tmp_path, keyword, b"QZTEXT", "LO")  # was ValueError from int()
    message = expect_error(path, keyword, "not a single integer")
    assert "QZTEXT" not in message


def test_multi_valued_pixel_representation(tmp_path):
    path = with_element("MR_small.dcm", tmp_path, "PixelRepresentation", struct.pack("<HH", 0, 1), "US")  # TypeError
    expect_error(path, "PixelRepresentation", "not a single integer")


@pytest.mark.parametrize(
    "bits, words", [(-1, "BitsStored"), (65535, "BitsStored"), (255, "BitsStored"), (0, "BitsStored")]
)
def test_impossible_bits_stored_on_the_memory_mapped_path(tmp_path, bits, words):
    # -1: "negative shift count" (ValueError); 65535: OverflowError; 255: an all-NaN image
    expect_error(large_file(tmp_path, BitsStored=bits), words, "out of range")


def test_bits_stored_255_on_a_small_file(tmp_path):
    ds = pydicom.dcmread(real_file("CT_small.dcm"))
    ds.BitsStored = 255
    expect_error(save(ds, tmp_path / "bs255.dcm"), "BitsStored")


def _lut_item(entries: int, first: int, bits: int, data: bytes) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [entries, first, bits]
    item.add_new(0x00283006, "OW", data)
    return item


def test_modality_lut_data_shorter_than_its_descriptor(tmp_path):
    ds = pydicom.dcmread(real_file("CT_small.dcm"))
    del ds.RescaleSlope, ds.RescaleIntercept
    item = _lut_item(4096, 0, 16, np.arange(100, dtype="<u2").tobytes())
    item.ModalityLUTType = "HU"
    ds.ModalityLUTSequence = [item]
    expect_error(save(ds, tmp_path / "mlut.dcm"), "LUT data is shorter")  # was struct.error


def test_voi_lut_data_shorter_than_its_descriptor(tmp_path):
    ds = pydicom.dcmread(real_file("MR_small.dcm"))
    del ds.WindowCenter, ds.WindowWidth
    ds.VOILUTSequence = [_lut_item(4096, 0, 16, np.arange(100, dtype="<u2").tobytes())]
    expect_error(save(ds, tmp_path / "vlut.dcm"), "LUT data is shorter")  # was struct.error


def test_forty_bit_voi_lut(tmp_path):
    ds = pydicom.dcmread(real_file("MR_small.dcm"))
    del ds.WindowCenter, ds.WindowWidth
    ds.VOILUTSequence = [_lut_item(256, 0, 40, np.arange(256, dtype="<u2").tobytes())]
    expect_error(save(ds, tmp_path / "lut40.dcm"), "unsupported entry size")  # was NotImplementedError


def test_unknown_vr_after_a_damaged_byte(tmp_path):
    raw = Path(real_file("MR_small.dcm")).read_bytes()
    at = raw.index(b"\x28\x00\x10\x00US")  # Rows
    (tmp_path / "vr.dcm").write_bytes(raw[: at + 4] + b"XS" + raw[at + 6 :])  # was NotImplementedError
    expect_error(tmp_path / "vr.dcm", "Rows", "damaged")


def test_value_length_that_does_not_fit_its_vr(tmp_path):
    path = with_element("MR_small.dcm", tmp_path, "Rows", b"\x40\x00\x00", "US")  # was BytesLengthException
    expect_error(path, "Rows", "damaged")


@pytest.mark.parametrize("name", ["MR_small.dcm", "CT_small.dcm"])
def test_file_meta_length_of_four_gigabytes_reads_no_gigabytes(tmp_path, name):
    raw = Path(real_file(name)).read_bytes()
    at = raw.index(b"\x02\x00\x01\x00OB\x00\x00")  # FileMetaInformationVersion: a 4-byte length field
    path = tmp_path / "huge.dcm"
    path.write_bytes(raw[: at + 8] + struct.pack("<I", 0xFFFFFFF0) + raw[at + 12 :])  # was MemoryError
    outcome = dicom_mutants.read_isolated(str(path), memory_cap=1 << 30)  # 1 GiB for everything
    assert outcome.status == "DicomError", outcome
    assert str(path) in outcome.message


def test_implicit_vr_element_length_past_the_end_of_the_file(tmp_path):
    raw = Path(real_file("MR_small_implicit.dcm")).read_bytes()
    at = raw.index(b"\x28\x00\x10\x00\x02\x00\x00\x00")  # Rows, implicit VR: 4-byte length
    path = tmp_path / "implicit.dcm"
    path.write_bytes(raw[: at + 4] + struct.pack("<I", 0xFFFFFFF0) + raw[at + 8 :])
    outcome = dicom_mutants.read_isolated(str(path), memory_cap=1 << 30)
    assert outcome.status == "DicomError" and "length runs past the end of the file" in outcome.message, outcome


# ---------------------------------------------------------------------------------------------------
# 2. decoders that used to kill the interpreter (each read in a forked child: an abort must not end pytest)


def _isolated_error(path: Path, *words) -> str:
    outcome = dicom_mutants.read_isolated(str(path), stderr_path=str(path) + ".stderr")
    assert outcome.status == "DicomError", (outcome, Path(str(path) + ".stderr").read_text()[-2000:])
    assert str(path) in outcome.message
    for word in words:
        assert word in outcome.message, outcome.message
    return outcome.message


@pytest.mark.parametrize("name", ["JPEG-LL.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm"])
def test_jpeg_lossless_with_bits_allocated_32(tmp_path, name):
    ds = pydicom.dcmread(real_file(name))
    ds.BitsAllocated = 32  # python-gdcm: uncaught C++ exception, SIGABRT
    _isolated_error(save(ds, tmp_path / "ba32.dcm"), "BitsAllocated must be 8 or 16")


@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_16.dcm"])
def test_jpeg_ls_with_one_row_too_many(tmp_path, name):
    ds = pydicom.dcmread(real_file(name))
    ds.Rows += 1  # pyjpegls refuses, then python-gdcm aborts
    _isolated_error(save(ds, tmp_path / "rows.dcm"), "image size")


def test_rle_with_columns_halved(tmp_path):
    ds = pydicom.dcmread(real_file("MR_small_RLE.dcm"))
    ds.Columns //= 2  # pylibjpeg-rle panics in Rust (pyo3 PanicException)
    _isolated_error(save(ds, tmp_path / "rle.dcm"), "RLE segment decodes to more bytes")


@pytest.mark.parametrize(
    "name",
    [
        "JPEG-LL.dcm",
        "JPGLosslessP14SV1_1s_1f_8b.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "JPEGLSNearLossless_16.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "693_J2KI.dcm",
        "mlut_18.dcm",
        "vlut_04.dcm",
        "image_dfl.dcm",
    ],
)
def test_the_checks_pass_valid_files_which_still_equal_pydicom(name):
    path = real_file(name)
    ds = pydicom.dcmread(path)
    expected = pydicom.pixels.apply_voi_lut(pydicom.pixels.apply_modality_lut(ds.pixel_array, ds), ds)
    np.testing.assert_array_equal(read_dicom(path).pixels, np.asarray(expected, np.float64).astype(np.float32))


class PanicException(BaseException):
    """Stands in for pyo3's PanicException (a BaseException) raised by a Rust decoder."""


@pytest.mark.parametrize(
    "raised, expected",
    [
        (PanicException("index out of bounds"), DicomError),
        (KeyboardInterrupt(), KeyboardInterrupt),
        (SystemExit(3), SystemExit),
    ],
)
def test_a_decoder_that_panics_is_a_dicom_error_but_interrupts_pass(monkeypatch, raised, expected):
    def crash(self):
        raise raised

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(crash))
    path = real_file("MR_small_RLE.dcm")
    with pytest.raises(expected) as info:
        read_dicom(path)
    if expected is DicomError:
        assert str(info.value) == f"{path}: decoder crashed: PanicException"


# ---------------------------------------------------------------------------------------------------
# 3. no silent garbage: every image is finite


@pytest.mark.parametrize(
    "center, width",
    [(40.0, math.nan), (math.inf, 400.0), (40.0, 0.0), (40.0, -5.0), (-math.inf, math.inf), (40.0, 0.5)],
)
def test_an_unusable_window_is_ignored(tmp_path, caplog, center, width):
    ds = pydicom.dcmread(real_file("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth = center, width
    path = save(ds, tmp_path / "window.dcm")
    with caplog.at_level(logging.DEBUG):
        image = read_dicom(path)
    assert np.isfinite(image.pixels).all()
    np.testing.assert_array_equal(image.pixels, read_dicom(path, apply_voi=False).pixels)  # full modality range
    notes = [r.getMessage() for r in caplog.records if "window 0 is not usable" in r.getMessage()]
    assert notes and all(repr(center) not in n and repr(width) not in n for n in notes)
    display, _, _ = dicom_to_display(path, 0)
    assert display.max() > 0  # not the black PNG convert used to write


@pytest.mark.parametrize(
    "keyword, value, words",
    [
        ("RescaleSlope", math.nan, "RescaleSlope is not a single finite number"),
        ("RescaleSlope", math.inf, "RescaleSlope is not a single finite number"),
        ("RescaleIntercept", math.inf, "RescaleIntercept is not a single finite number"),
        ("RescaleIntercept", math.nan, "RescaleIntercept is not a single finite number"),
        ("RescaleSlope", 1e300, "not finite in float32"),
    ],
)
def test_a_non_finite_or_absurd_rescale_is_an_error(tmp_path, keyword, value, words):
    ds = pydicom.dcmread(real_file("CT_small.dcm"))
    ds[keyword].value = value
    expect_error(save(ds, tmp_path / "rescale.dcm"), "bad modality/VOI LUT attributes", words)


def test_to_display_refuses_non_finite_grey_levels(tmp_path):
    ds = pydicom.dcmread(real_file("CT_small.dcm"))
    ds.RescaleSlope = 1e300
    with pytest.raises(ValueError, match="not finite"):
        to_display(ds, ds.pixel_array)


# ---------------------------------------------------------------------------------------------------
# 4. no identifier in any log record, warning, message or metadata field

PLANTED = {
    "PatientName": "QZXNAME^PLANTED",
    "PatientID": "QZXPID4711",
    "PatientBirthDate": "18870315",
    "AccessionNumber": "QZXACC0815",
    "InstitutionName": "QZX INSTITUTE",
}


def _planted_file(tmp_path: Path, name: str) -> bytes:
    ds = pydicom.dcmread(real_file(name))
    for keyword, value in PLANTED.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _with_length(raw: bytes, marker: bytes, length: int, size: int = 2) -> bytes:
    at = raw.index(marker, 128) + len(marker)
    return raw[:at] + struct.pack("<H" if size == 2 else "<I", length) + raw[at + size :]


def _damaged_copies(tmp_path: Path) -> list[Path]:
    """Files with planted identifiers whose headers are damaged so that values swallow them."""
    raw = _planted_file(tmp_path, "MR_small.dcm")
    ts, modality = b"\x02\x00\x10\x00UI", b"\x08\x00\x60\x00CS"
    at = raw.index(ts, 128)
    institution_end = raw.index(b"QZX INSTITUTE ") + len(b"QZX INSTITUTE ")  # where its (padded) value ends
    (ts_length,) = struct.unpack("<H", raw[at + 6 : at + 8])
    variants = {
        "ts_low_byte": _with_length(raw, ts, ts_length | 0xF0),  # the UID swallows meta + dataset start
        "ts_high_byte": _with_length(raw, ts, ts_length + 0x200),
        "ts_all": _with_length(raw, ts, 0xFFFF),
        "ts_swallows_phi": _with_length(raw, ts, institution_end - (at + 8)),
        "modality_swallows_institution": _with_length(raw, modality, institution_end - raw.index(modality) - 8),
        "ts_is_phi": dicom_mutants.replace_transfer_syntax(raw, "QZXPID4711"),
    }
    ds = pydicom.dcmread(io.BytesIO(raw))
    raw_element(ds, "PhotometricInterpretation", b"QZXNAME^PLANTED ", "CS")
    raw_element(ds, "BitsAllocated", b"QZXPID4711", "LO")
    variants["attributes_are_phi"] = dicom_mutants.unvalidated_bytes(ds)
    ds = pydicom.dcmread(io.BytesIO(raw))
    raw_element(ds, "Modality", b"QZXACC0815", "CS")
    raw_element(ds, "WindowWidth", b"QZXPID4711", "DS")  # not a number: pydicom cannot convert it
    variants["meta_fields_are_phi"] = dicom_mutants.unvalidated_bytes(ds)
    paths = []
    for name, data in variants.items():
        path = tmp_path / f"{name}.dcm"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_no_planted_identifier_leaks_through_logs_warnings_messages_or_meta(tmp_path, caplog):
    texts = []
    for path in _damaged_copies(tmp_path):
        with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for read in (read_dicom, lambda p: dicom_to_display(p, 64)[2]):
                try:
                    result = read(path)
                    meta = getattr(result, "meta", result)
                    texts.append(repr(meta))
                    assert meta.modality is None or meta.modality in MODALITIES
                    assert meta.transfer_syntax == "unknown" or "QZX" not in meta.transfer_syntax
                except DicomError as err:
                    assert str(path) in str(err)
                    texts.append(str(err))
        texts += [str(w.message) for w in caught]
        texts += [record.getMessage() for record in caplog.records]
        caplog.clear()
    assert len(texts) >= 14
    assert any("pydicom reported" in t and "not shown" in t for t in texts)  # the problems were there
    for value in PLANTED.values():
        for text in texts:
            assert value not in text and value[:6] not in text, text


def test_reading_leaves_pydicom_settings_warnings_and_loggers_as_they_were(tmp_path):
    raw = _planted_file(tmp_path, "MR_small.dcm")
    path = tmp_path / "ts.dcm"
    path.write_bytes(_with_length(raw, b"\x02\x00\x10\x00UI", 0xFFFF))
    modes = (config.settings.reading_validation_mode, config.settings.writing_validation_mode)
    filters = list(warnings.filters)
    loggers = {name: list(logging.getLogger(name).filters) for name in ("pydicom", "pydicom.pixels.decoders.base")}
    with pytest.raises(DicomError):
        read_dicom(path)
    read_dicom(real_file("CT_small.dcm"))
    assert (config.settings.reading_validation_mode, config.settings.writing_validation_mode) == modes
    assert warnings.filters == filters
    assert {name: list(logging.getLogger(name).filters) for name in loggers} == loggers
