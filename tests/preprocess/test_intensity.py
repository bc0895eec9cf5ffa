"""The fast display path (affine or LUT) against the winning teams' float64 recipe, and against each other."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from cxrdet.example.dicom_writer import write_dicom
from cxrdet.io import dicom_lut as intensity
from cxrdet.preprocess.intensity import grey_lut, to_display


def reference_recipe(ds, bit_depth: int = 8) -> np.ndarray:
    """dcmread -> modality LUT -> apply_voi_lut -> invert MONOCHROME1 -> min-max -> scale (float64)."""
    data = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float64)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        data = np.amax(data) - data
    data = data - np.min(data)
    data = data / np.max(data)
    return data * ((1 << bit_depth) - 1)


def phantom(rng, shape=(96, 128), top=4095) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    base = (np.sin(xx / 9.0) + np.cos(yy / 13.0) + 2) / 4 * top
    return np.clip(base + rng.normal(0, top * 0.03, shape), 0, top).astype(np.uint16)


CASES = {
    "mono2-no-voi": dict(bits_stored=12),
    "mono1-window": dict(bits_stored=12, photometric="MONOCHROME1", window=(2000, 1500)),
    "mono2-window-narrow": dict(bits_stored=12, window=(2048, 300)),
    "rescale-window": dict(bits_stored=12, rescale=(2.0, -1000.0), window=(2000, 3000)),
    "mono1-16bit": dict(bits_stored=16, photometric="MONOCHROME1"),
}


@pytest.fixture(params=sorted(CASES))
def case_file(request, tmp_path):
    rng = np.random.default_rng(len(request.param))
    top = (1 << CASES[request.param]["bits_stored"]) - 1
    return write_dicom(tmp_path / f"{request.param}.dcm", phantom(rng, top=top), **CASES[request.param])


def _check(ds, bit_depth=8):
    got = to_display(ds, ds.pixel_array, bit_depth=bit_depth)
    expected = reference_recipe(ds, bit_depth)
    assert got.dtype == (np.uint8 if bit_depth == 8 else np.uint16)
    # rounded, not truncated; OpenCV's affine pass works in float32 (at 16 bits: 65535 * 2**-24 ~ 0.004)
    tolerance = 0.5 + (1e-6 if bit_depth == 8 else 0.02)
    assert np.abs(got.astype(np.float64) - expected).max() <= tolerance
    return got


def test_linear_cases_take_the_affine_path_and_match(case_file):
    ds = pydicom.dcmread(case_file)
    assert grey_lut(ds).affine is not None
    _check(ds, 8)
    _check(ds, 16)


def test_affine_and_lut_paths_agree(case_file, monkeypatch):
    ds = pydicom.dcmread(case_file)
    fast = to_display(ds, ds.pixel_array)
    monkeypatch.setattr(intensity, "_fit_affine", lambda values, offset: None)
    slow = to_display(ds, ds.pixel_array)
    assert np.abs(fast.astype(int) - slow.astype(int)).max() <= 1


def test_sigmoid_takes_the_lut_path_and_matches(tmp_path):
    rng = np.random.default_rng(3)
    ds = pydicom.dcmread(write_dicom(tmp_path / "s.dcm", phantom(rng), bits_stored=12, window=(2048, 800)))
    ds.VOILUTFunction = "SIGMOID"
    assert grey_lut(ds).affine is None
    _check(ds, 8)


@pytest.mark.parametrize("name", ["CT_small.dcm", "RG1_UNCR.dcm", "RG3_J2KR.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_real_files_match_the_recipe(name):
    ds = pydicom.dcmread(get_testdata_file(name, download=False))
    _check(ds, 8)
    _check(ds, 16)


def test_non_monotone_lut_uses_present_values(tmp_path):
    stored = np.array([[0, 10, 20, 30]] * 4, np.uint16)
    ds = pydicom.dcmread(write_dicom(tmp_path / "plain.dcm", stored, bits_stored=8))
    item = pydicom.Dataset()
    item.LUTDescriptor = [256, 0, 16]
    lut = np.zeros(256, np.uint16)
    lut[[0, 10, 20, 30]] = [100, 900, 300, 700]
    lut[15] = 60000  # a peak on a value the image does not contain must not set the maximum
    item.add_new(0x00283006, "OW", lut.tobytes())
    ds.VOILUTSequence = [item]
    got = to_display(ds, ds.pixel_array)
    assert got[0].tolist() == [0, 255, 64, 191]  # (300-100)/800*255 = 63.75, (700-100)/800*255 = 191.25


def test_constant_image_is_black(tmp_path):
    ds = pydicom.dcmread(write_dicom(tmp_path / "c.dcm", np.full((8, 8), 77, np.uint16), bits_stored=12))
    assert not to_display(ds, ds.pixel_array).any()


@pytest.mark.parametrize(
    "center, width", [(2048.0, float("nan")), (float("inf"), 500.0), (2048.0, 0.0), (2048.0, -10.0)]
)
def test_an_unusable_window_is_ignored_not_turned_into_nan(tmp_path, center, width):
    rng = np.random.default_rng(4)
    ds = pydicom.dcmread(write_dicom(tmp_path / "w.dcm", phantom(rng), bits_stored=12, window=(2048, 1000)))
    ds.WindowCenter, ds.WindowWidth = center, width
    lut = grey_lut(ds)
    assert np.isfinite(lut.values).all()
    np.testing.assert_array_equal(lut.values, grey_lut(ds, apply_voi=False).values)  # the full modality range
    assert to_display(ds, ds.pixel_array).max() == 255


@pytest.mark.parametrize("slope, intercept", [(float("nan"), 0.0), (1.0, float("inf")), (1e300, 0.0)])
def test_a_rescale_without_finite_grey_levels_is_refused(tmp_path, slope, intercept):
    rng = np.random.default_rng(5)
    ds = pydicom.dcmread(write_dicom(tmp_path / "r.dcm", phantom(rng), bits_stored=12, rescale=(1.0, 0.0)))
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    for transform in (
        grey_lut,
        lambda d: to_display(d, d.pixel_array),
        lambda d: intensity.stored_to_float(d, d.pixel_array),
    ):
        with pytest.raises(ValueError, match="finite"):
            transform(ds)


def test_every_table_is_finite(case_file):
    ds = pydicom.dcmread(case_file)
    assert np.isfinite(grey_lut(ds).values).all()
