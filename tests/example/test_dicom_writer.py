"""Tests of cxrdet.example.dicom_writer: every encoding round-trips exactly and carries the right tags."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless

from cxrdet.example.dicom_writer import (
    FAKE_PHI_KEYWORDS,
    SOP_CLASSES,
    SYNTHETIC_INSTITUTION,
    TRANSFER_SYNTAXES,
    fake_phi,
    write_dicom,
)

UIDS = {"explicit": ExplicitVRLittleEndian, "rle": RLELossless, "jpegls": JPEGLSLossless, "j2k": JPEG2000Lossless}


def _pixels(bits: int, signed: bool, shape=(67, 53), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if signed:
        arr = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), shape).astype(np.int16)
        arr[0, :2] = [-(1 << (bits - 1)), (1 << (bits - 1)) - 1]  # both ends of the range
    else:
        arr = rng.integers(0, 1 << bits, shape).astype(np.uint16)
        arr[0, :2] = [0, (1 << bits) - 1]
    return arr


@pytest.mark.parametrize("syntax", sorted(TRANSFER_SYNTAXES))
@pytest.mark.parametrize("bits", [12, 14, 16])
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_round_trip_exact(tmp_path, syntax, bits, photometric):
    arr = _pixels(bits, signed=False)
    path = write_dicom(
        tmp_path / "a.dicom", arr, bits_stored=bits, photometric=photometric, transfer_syntax=syntax, uid_seed=3
    )
    ds = pydicom.dcmread(path)  # no force=True: a proper Part 10 file
    assert ds.file_meta.TransferSyntaxUID == UIDS[syntax]
    assert ds.PhotometricInterpretation == photometric
    assert (ds.Rows, ds.Columns, ds.SamplesPerPixel) == (67, 53, 1)
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, bits, bits - 1, 0)
    np.testing.assert_array_equal(ds.pixel_array, arr)


@pytest.mark.parametrize("syntax", sorted(TRANSFER_SYNTAXES))
def test_signed_round_trip(tmp_path, syntax):
    arr = _pixels(12, signed=True)
    ds = pydicom.dcmread(write_dicom(tmp_path / "s.dicom", arr, bits_stored=12, transfer_syntax=syntax))
    assert ds.PixelRepresentation == 1
    assert ds.pixel_array.dtype == np.int16
    np.testing.assert_array_equal(ds.pixel_array, arr)


@pytest.mark.parametrize("modality", ["DX", "CR"])
def test_file_meta_and_sop_class(tmp_path, modality):
    ds = pydicom.dcmread(write_dicom(tmp_path / "m.dicom", _pixels(12, False), modality=modality, uid_seed=5))
    assert ds.Modality == modality
    assert ds.SOPClassUID == SOP_CLASSES[modality] == ds.file_meta.MediaStorageSOPClassUID
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.preamble is not None and len(ds.preamble) == 128
    assert len({ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID}) == 3
    assert (ds.BodyPartExamined, ds.ViewPosition) == ("CHEST", "PA")


def test_single_and_multiple_windows(tmp_path):
    arr = _pixels(12, False)
    ds = pydicom.dcmread(write_dicom(tmp_path / "w1.dicom", arr, window=(2048.5, 1000)))
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (2048.5, 1000.0)
    ds = pydicom.dcmread(write_dicom(tmp_path / "w2.dicom", arr, window=([1000, 3000], [500, 2000])))
    assert [float(v) for v in ds.WindowCenter] == [1000.0, 3000.0]
    assert [float(v) for v in ds.WindowWidth] == [500.0, 2000.0]
    assert list(ds.WindowCenterWidthExplanation) == ["NORMAL", "WIDE"]
    first, second = apply_voi_lut(ds.pixel_array, ds, index=0), apply_voi_lut(ds.pixel_array, ds, index=1)
    assert not np.array_equal(first, second)


def test_voi_lut_sequence(tmp_path):
    arr = (np.arange(64 * 64) % 4096).astype(np.uint16).reshape(64, 64)
    lut = (np.sqrt(np.arange(1000) / 999) * 65535).astype(np.uint16)
    ds = pydicom.dcmread(write_dicom(tmp_path / "lut.dicom", arr, voi_lut=(100, lut)))
    item = ds.VOILUTSequence[0]
    assert list(item.LUTDescriptor) == [1000, 100, 16]
    out = apply_voi_lut(ds.pixel_array, ds)
    # below the first mapped value -> first entry, inside -> lut[v - 100], above -> last entry
    expected = lut[np.clip(arr.astype(int) - 100, 0, 999)]
    np.testing.assert_array_equal(out, expected)


def test_rescale(tmp_path):
    arr = _pixels(12, False)
    ds = pydicom.dcmread(write_dicom(tmp_path / "r.dicom", arr, rescale=(2.0, -1024.0), transfer_syntax="rle"))
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (2.0, -1024.0)
    np.testing.assert_array_equal(apply_modality_lut(ds.pixel_array, ds), arr * 2.0 - 1024.0)
    plain = pydicom.dcmread(write_dicom(tmp_path / "p.dicom", arr))
    assert "RescaleSlope" not in plain and "RescaleIntercept" not in plain


def test_patient_fields(tmp_path):
    arr = _pixels(12, False)
    ds = pydicom.dcmread(
        write_dicom(tmp_path / "p.dicom", arr, sex="F", age=45, pixel_spacing=(0.14, 0.15), uid_seed=9)
    )
    assert (ds.PatientSex, ds.PatientAge) == ("F", "045Y")
    assert [float(v) for v in ds.PixelSpacing] == [0.14, 0.15]
    for keyword, value in fake_phi(9).items():
        assert str(ds.data_element(keyword).value) == value
    assert ds.InstitutionName == SYNTHETIC_INSTITUTION
    assert set(fake_phi(9)) == set(FAKE_PHI_KEYWORDS)
    assert str(ds.PatientName) == "SYNTHETIC^PATIENT^9"
    ds = pydicom.dcmread(write_dicom(tmp_path / "q.dicom", arr, sex="", age="006M", patient_name="SYNTHETIC^X"))
    assert (ds.PatientSex, ds.PatientAge, str(ds.PatientName)) == ("", "006M", "SYNTHETIC^X")
    ds = pydicom.dcmread(write_dicom(tmp_path / "n.dicom", arr))
    assert "PatientSex" not in ds and "PatientAge" not in ds and "PixelSpacing" not in ds


def test_monochrome1_presentation_lut_shape(tmp_path):
    arr = _pixels(12, False)
    ds = pydicom.dcmread(write_dicom(tmp_path / "m1.dicom", arr, photometric="MONOCHROME1"))
    assert ds.PresentationLUTShape == "INVERSE"
    ds = pydicom.dcmread(write_dicom(tmp_path / "m2.dicom", arr))
    assert ds.PresentationLUTShape == "IDENTITY"


@pytest.mark.parametrize("syntax", sorted(TRANSFER_SYNTAXES))
def test_deterministic_bytes(tmp_path, syntax):
    arr = _pixels(14, False)
    kwargs = dict(bits_stored=14, transfer_syntax=syntax, window=(8000, 4000), sex="M", age=30, uid_seed="x")
    a = write_dicom(tmp_path / "a.dicom", arr, **kwargs).read_bytes()
    b = write_dicom(tmp_path / "b.dicom", arr, **kwargs).read_bytes()
    assert a == b
    kwargs["uid_seed"] = "y"
    c = pydicom.dcmread(write_dicom(tmp_path / "c.dicom", arr, **kwargs))
    assert c.SOPInstanceUID != pydicom.dcmread(tmp_path / "a.dicom").SOPInstanceUID


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(pixels=np.full((4, 4), 4096, np.uint16)), "do not fit"),
        (dict(pixels=np.zeros((2, 4, 4), np.uint16)), "2-D"),
        (dict(pixels=np.zeros((4, 4), np.float32)), "uint16"),
        (dict(transfer_syntax="jpeg"), "transfer_syntax"),
        (dict(photometric="RGB"), "photometric"),
        (dict(modality="CT"), "modality"),
        (dict(bits_stored=17), "bits_stored"),
    ],
)
def test_rejects_bad_input(tmp_path, bad, match):
    kwargs = dict(pixels=np.zeros((4, 4), np.uint16)) | bad
    pixels = kwargs.pop("pixels")
    with pytest.raises(ValueError, match=match):
        write_dicom(tmp_path / "bad.dicom", pixels, **kwargs)
    assert not (tmp_path / "bad.dicom").exists()


def test_large_uncompressed_round_trips(tmp_path):
    arr = np.random.default_rng(0).integers(0, 1 << 14, (3072, 3072)).astype(np.uint16)
    path = write_dicom(tmp_path / "big.dicom", arr, bits_stored=14, window=(8000, 12000))
    np.testing.assert_array_equal(pydicom.dcmread(path).pixel_array, arr)
