"""LoadMedicalImage: 16-bit PNGs keep every bit (values / 65535), 8-bit PNG and JPEG / 255, DICOM min-max, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from cxrdet.datasets import LoadMedicalImage
from cxrdet.errors import InputError


def _load(path, channels: int = 1) -> dict:
    return LoadMedicalImage(channels=channels)(dict(img_path=str(path)))


def test_16_bit_png_keeps_its_precision(tmp_path):
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 65536, (37, 53), dtype=np.uint16)
    stored[0, 0], stored[0, 1], stored[0, 2] = 0, 65535, 1  # both ends and the smallest step
    path = tmp_path / "x.png"
    Image.fromarray(stored).save(path)  # written by Pillow, read by OpenCV: the codec is not the one under test
    out = _load(path)
    img = out["img"]
    assert img.shape == (37, 53, 1) and img.dtype == np.float32
    assert out["img_shape"] == (37, 53) and out["ori_shape"] == (37, 53)
    assert np.abs(img[..., 0].astype(np.float64) - stored / 65535.0).max() < 1e-7
    assert np.array_equal(np.rint(img[..., 0].astype(np.float64) * 65535).astype(np.uint16), stored)  # no bit lost
    assert img[0, 0, 0] == 0.0 and img[0, 1, 0] == 1.0 and img[0, 2, 0] > 0
    assert len(np.unique(img)) == len(np.unique(stored))


def test_8_bit_png_and_three_channels(tmp_path):
    stored = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = tmp_path / "g.png"
    Image.fromarray(stored).save(path)
    img = _load(path, channels=3)["img"]
    assert img.shape == (16, 16, 3) and img.dtype == np.float32
    assert np.abs(img[..., 0].astype(np.float64) - stored / 255.0).max() < 1e-7
    assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2])


def test_jpeg_grey_and_colour(tmp_path):
    yy, xx = np.mgrid[0:48, 0:64]
    grey = ((xx * 3 + yy * 2) % 256).astype(np.uint8)
    path = tmp_path / "g.jpg"
    Image.fromarray(grey).save(path, quality=95)
    reference = np.asarray(Image.open(path).convert("L"), dtype=np.float64) / 255.0  # Pillow's own decoder
    img = _load(path)["img"][..., 0]
    assert img.shape == (48, 64) and img.min() >= 0.0 and img.max() <= 1.0
    assert np.abs(img - reference).max() <= 2 / 255  # two JPEG decoders agree to rounding
    colour = np.stack([grey, grey // 2, 255 - grey], axis=2)
    path = tmp_path / "c.jpeg"
    Image.fromarray(colour).save(path, quality=95)
    luma = np.asarray(Image.open(path).convert("L"), dtype=np.float64) / 255.0  # ITU-R 601 luma, as OpenCV's
    out = _load(path)["img"]
    assert out.shape == (48, 64, 1) and np.abs(out[..., 0] - luma).max() <= 3 / 255


def test_dicom_written_by_the_example_writer_is_min_max_normalised(tmp_path):
    from cxrdet.example.dicom_writer import write_dicom

    rng = np.random.default_rng(1)
    stored = rng.integers(100, 4000, (40, 30)).astype(np.uint16)
    plain = write_dicom(tmp_path / "a.dcm", stored, bits_stored=12)
    img = _load(plain)["img"][..., 0].astype(np.float64)
    expected = (stored - stored.min()) / float(stored.max() - stored.min())
    assert img.shape == (40, 30) and np.abs(img - expected).max() < 1e-6
    # MONOCHROME1 (higher stored value = darker): the loaded image is the inverse
    mono1 = write_dicom(tmp_path / "b.dicom", stored, bits_stored=12, photometric="MONOCHROME1")
    assert np.abs(_load(mono1)["img"][..., 0] - (1.0 - expected)).max() < 1e-6
    # a DICOM file without a DICOM suffix is recognised by its DICM mark
    renamed = tmp_path / "c.img"
    renamed.write_bytes(plain.read_bytes())
    assert np.abs(_load(renamed)["img"][..., 0] - expected).max() < 1e-6


def test_pydicom_ct_small_matches_pydicom_luts():
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    path = get_testdata_file("CT_small.dcm", download=False)
    ds = dcmread(path)
    reference = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float64)
    reference = (reference - reference.min()) / (reference.max() - reference.min())
    img = _load(path)["img"][..., 0]
    assert img.shape == ds.pixel_array.shape
    assert np.abs(img - reference).max() < 1e-5


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot decode"),
        ("text.jpg", b"not an image at all", "cannot decode"),
        ("empty.png", b"", "empty image file"),
        ("broken.dcm", b"\x00" * 128 + b"DICM" + b"\x02\x00" * 10, "cannot read the DICOM image"),
    ],
)
def test_bad_files_name_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=reason) as info:
        _load(path)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_missing_file_and_bad_channels(tmp_path):
    with pytest.raises(InputError, match="no such image file") as info:
        _load(tmp_path / "gone.png")
    assert info.value.path == str(tmp_path / "gone.png")
    with pytest.raises(ValueError, match="channels"):
        LoadMedicalImage(channels=2)


def test_built_from_the_cxrdet_scope(tmp_path):
    from mmengine.registry import DefaultScope

    from cxrdet.registry import TRANSFORMS

    path = tmp_path / "g.png"
    cv2.imwrite(str(path), np.full((8, 9), 51, np.uint8))
    with DefaultScope.overwrite_default_scope("cxrdet"):
        load = TRANSFORMS.build(dict(type="LoadMedicalImage"))
    assert isinstance(load, LoadMedicalImage)
    assert np.allclose(load(dict(img_path=str(path)))["img"], 0.2)
