"""cxrdet.io.read_dicom against pydicom's own LUT functions on real files, metadata, and every bad input."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from cxrdet.errors import DicomError
from cxrdet.example.dicom_writer import fake_phi, write_dicom
from cxrdet.io.dicom import parse_age, read_dicom

# Real files shipped with pydicom and pydicom-data: chest (RG1) and extremity (RG3) MONOCHROME1 radiographs
# uncompressed and JPEG 2000 (lossless and lossy), CT with rescale, JPEG-LS, JPEG lossless, 12-bit JPEG
# extended, RLE, big-endian and implicit VR.
REAL_FILES = [
    "RG1_UNCR.dcm",
    "RG1_UNCI.dcm",
    "RG1_J2KR.dcm",
    "RG1_J2KI.dcm",
    "RG3_UNCR.dcm",
    "RG3_UNCI.dcm",
    "RG3_J2KR.dcm",
    "RG3_J2KI.dcm",
    "CT_small.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEGLSNearLossless_16.dcm",
    "JPEG-LL.dcm",
    "JPEG2000.dcm",
    "MR_small_RLE.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
]


def real_file(name: str) -> str:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} should ship with pydicom or pydicom-data (a test dependency)"
    return path


def pydicom_reference(path: str, apply_voi: bool = True, index: int = 0) -> np.ndarray:
    """What pydicom itself gives, inverted for MONOCHROME1 over the transform's full output range."""
    ds = pydicom.dcmread(path)
    out = apply_modality_lut(ds.pixel_array, ds)
    if apply_voi:
        out = apply_voi_lut(out, ds, index=index)
    out = np.asarray(out, dtype=np.float64)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        bits = int(ds.BitsStored)
        every = np.arange(0, 1 << bits) if not ds.PixelRepresentation else np.arange(-(1 << bits - 1), 1 << bits - 1)
        full = apply_modality_lut(every, ds)
        if apply_voi:
            full = apply_voi_lut(full, ds, index=index)
        out = float(np.min(full)) + float(np.max(full)) - out
    return out


@pytest.mark.parametrize("name", REAL_FILES)
def test_matches_pydicom_luts_on_real_files(name):
    path = real_file(name)
    image = read_dicom(path)
    expected = pydicom_reference(path)
    assert image.pixels.dtype == np.float32
    assert image.pixels.shape == expected.shape
    np.testing.assert_allclose(image.pixels, expected.astype(np.float32), rtol=0, atol=0)
    assert (image.meta.rows, image.meta.columns) == expected.shape


@pytest.mark.parametrize("name", ["RG1_UNCR.dcm", "CT_small.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_apply_voi_false_is_modality_lut_only(name):
    path = real_file(name)
    np.testing.assert_array_equal(
        read_dicom(path, apply_voi=False).pixels, pydicom_reference(path, apply_voi=False).astype(np.float32)
    )


def test_monochrome1_is_inverted_so_higher_is_brighter(tmp_path):
    stored = np.full((64, 80), 3000, np.uint16)
    stored[20:30, 30:40] = 500  # MONOCHROME1: low stored value = bright lesion
    path = write_dicom(tmp_path / "m1.dcm", stored, bits_stored=12, photometric="MONOCHROME1")
    pixels = read_dicom(path).pixels
    assert pixels[25, 35] > pixels[0, 0]
    # no VOI, no rescale: inversion over the 12-bit range is 4095 - v
    assert pixels[25, 35] == 4095 - 500 and pixels[0, 0] == 4095 - 3000


def test_second_window_is_used_with_voi_index(tmp_path):
    stored = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    path = write_dicom(tmp_path / "w.dcm", stored, bits_stored=12, window=([1000, 3000], [500, 2000]))
    for index in (0, 1):
        np.testing.assert_array_equal(
            read_dicom(path, voi_index=index).pixels, pydicom_reference(str(path), index=index).astype(np.float32)
        )
    assert not np.array_equal(read_dicom(path, voi_index=0).pixels, read_dicom(path, voi_index=1).pixels)


def test_voi_lut_sequence_and_sigmoid_match_pydicom(tmp_path):
    stored = (np.arange(100 * 100) % 4096).astype(np.uint16).reshape(100, 100)
    lut = (np.sqrt(np.arange(4096) / 4095.0) * 65535).astype(np.uint16)
    ds = pydicom.dcmread(write_dicom(tmp_path / "plain.dcm", stored, bits_stored=12))
    item = pydicom.Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.add_new(0x00283006, "OW", lut.tobytes())  # LUTData
    ds.VOILUTSequence = [item]
    lut_path = tmp_path / "lut.dcm"
    ds.save_as(lut_path)
    np.testing.assert_allclose(read_dicom(lut_path).pixels, pydicom_reference(str(lut_path)), rtol=1e-6)
    ds = pydicom.dcmread(write_dicom(tmp_path / "s.dcm", stored, bits_stored=12, window=(2048, 1000)))
    ds.VOILUTFunction = "SIGMOID"
    ds.save_as(tmp_path / "sigmoid.dcm")
    np.testing.assert_allclose(
        read_dicom(tmp_path / "sigmoid.dcm").pixels, pydicom_reference(str(tmp_path / "sigmoid.dcm")), rtol=1e-6
    )


def test_meta_fields_and_no_identifying_field(tmp_path):
    stored = np.zeros((30, 40), np.uint16)
    path = write_dicom(
        tmp_path / "abc123.dicom", stored, bits_stored=14, sex="F", age="045Y", pixel_spacing=(0.14, 0.15), uid_seed=7
    )
    meta = read_dicom(path).meta
    assert (meta.image_id, meta.rows, meta.columns, meta.bits_stored) == ("abc123", 30, 40, 14)
    assert (meta.sex, meta.age_years, meta.pixel_spacing) == ("F", 45.0, (0.14, 0.15))
    assert meta.photometric == "MONOCHROME2"
    text = repr(meta.as_dict())
    for value in fake_phi(7).values():
        assert value not in text


@pytest.mark.parametrize(
    "text, years",
    [
        ("028Y", 28.0),
        ("006M", 0.5),
        ("026W", 26 * 7 / 365.25),
        ("010D", 10 / 365.25),
        ("45", 45.0),
        ("", None),
        (None, None),
        ("abcY", None),
    ],
)
def test_parse_age(text, years):
    assert parse_age(text) == (pytest.approx(years) if years is not None else None)


def _expect_error(path, *words):
    with pytest.raises(DicomError) as info:
        read_dicom(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message
    return message


def test_errors_name_the_file_and_cause(tmp_path):
    (tmp_path / "text.dcm").write_text("not a dicom at all")
    _expect_error(tmp_path / "text.dcm", "not a DICOM file")
    _expect_error(tmp_path / "missing.dcm", "not found")
    raw = Path(real_file("RG3_UNCR.dcm")).read_bytes()
    (tmp_path / "half.dcm").write_bytes(raw[: len(raw) // 2])
    _expect_error(tmp_path / "half.dcm", "truncated")
    _expect_error(real_file("rtplan.dcm"), "no PixelData")
    _expect_error(real_file("emri_small.dcm"), "multi-frame")
    _expect_error(real_file("SC_rgb.dcm"), "colour")


def test_zero_sized_image(tmp_path):
    ds = pydicom.dcmread(real_file("CT_small.dcm"))
    ds.Rows = 0
    ds.save_as(tmp_path / "zero.dcm")
    _expect_error(tmp_path / "zero.dcm", "zero-sized")


def test_unsupported_transfer_syntax(tmp_path):
    ds = pydicom.dcmread(real_file("JPEG2000.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no still-image decoder exists
    ds.save_as(tmp_path / "mpeg.dcm", enforce_file_format=True)
    _expect_error(tmp_path / "mpeg.dcm", "cannot decode transfer syntax", "MPEG2")


def test_12bit_jpeg_extended_needs_the_gpl_decoder():
    """12-bit JPEG Extended decodes only with pylibjpeg-libjpeg (GPL-3), which cxrdet does not install."""
    path = real_file("JPGExtended.dcm")
    if importlib.util.find_spec("libjpeg") is not None:  # the user chose to install it
        np.testing.assert_array_equal(read_dicom(path).pixels, pydicom_reference(path).astype(np.float32))
    else:
        _expect_error(path, "JPEG Extended", "pylibjpeg-libjpeg", "GPL-3")


def test_missing_decoder_names_the_package_to_install(tmp_path, monkeypatch):
    def no_plugin(self):
        raise RuntimeError("Unable to decompress 'JPEG 2000' pixel data because all plugins are missing")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_plugin))
    _expect_error(real_file("RG1_J2KR.dcm"), "JPEG 2000", "pylibjpeg-openjpeg")


def test_large_uncompressed_pixels_equal_pydicom_including_junk_high_bits(tmp_path):
    """The zero-copy path for big uncompressed files masks unused bits exactly as pydicom does."""
    from cxrdet.io.dicom import decode_pixels, load_dataset

    rng = np.random.default_rng(5)
    stored = rng.integers(0, 4096, size=(1024, 700)).astype(np.uint16)  # > 1 MiB: deferred, memory-mapped
    path = write_dicom(tmp_path / "junk.dcm", stored, bits_stored=12)
    ds = pydicom.dcmread(path)
    junk = stored | (rng.integers(0, 2, size=stored.shape).astype(np.uint16) << 13)  # bits above BitsStored
    ds.PixelData = junk.tobytes()
    ds.save_as(path)
    pixels = decode_pixels(load_dataset(path), path)
    assert isinstance(pixels, np.memmap) or pixels.base is not None
    np.testing.assert_array_equal(pixels, pydicom.dcmread(path).pixel_array)
    np.testing.assert_array_equal(pixels, stored)


@pytest.mark.parametrize(
    "name, modality, syntax",
    [
        ("RG1_J2KR.dcm", "CR", "JPEG 2000 Image Compression (Lossless Only)"),
        ("CT_small.dcm", "CT", "Explicit VR Little Endian"),
        ("MR_small_RLE.dcm", "MR", "RLE Lossless"),
    ],
)
def test_meta_holds_only_defined_terms_and_known_names(name, modality, syntax):
    meta = read_dicom(real_file(name)).meta
    assert (meta.modality, meta.transfer_syntax) == (modality, syntax)


def test_meta_drops_a_modality_or_syntax_that_is_no_defined_term(tmp_path):
    ds = pydicom.dcmread(real_file("CT_small.dcm"))
    ds.Modality = "CT\\MR"  # two values
    ds.save_as(tmp_path / "two.dcm")
    assert read_dicom(tmp_path / "two.dcm").meta.modality is None
    ds.Modality = "XYZ"
    ds.save_as(tmp_path / "xyz.dcm")
    assert read_dicom(tmp_path / "xyz.dcm").meta.modality is None


def test_public_api_is_cxrdet_io_read_dicom():
    import cxrdet.io

    assert cxrdet.io.read_dicom is read_dicom
