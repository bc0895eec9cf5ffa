"""LoadGreyImageFromFile through the registries: 16-bit values survive, channels and dtype as asked."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cxrdet.errors import InputError


@pytest.fixture()
def png16(tmp_path):
    image = np.linspace(0, 60000, 24 * 32).reshape(24, 32).astype(np.uint16)
    path = tmp_path / "a.png"
    assert cv2.imwrite(str(path), image)
    return path, image


def test_built_in_cxrdet_scope_keeps_16_bit_values(png16):
    from mmengine.registry import DefaultScope

    from cxrdet.registry import TRANSFORMS

    path, image = png16
    with DefaultScope.overwrite_default_scope("cxrdet"):
        load = TRANSFORMS.build(dict(type="LoadGreyImageFromFile"))
    out = load(dict(img_path=str(path)))
    assert out["img"].shape == (24, 32, 3) and out["img"].dtype == np.float32
    assert out["img"].max() == 60000 and np.array_equal(out["img"][..., 2], image.astype(np.float32))
    assert out["img_shape"] == (24, 32) and out["ori_shape"] == (24, 32)


def test_built_from_mmdet_scope_with_the_cxrdet_prefix(png16):
    from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
    from mmengine.registry import DefaultScope

    path, image = png16
    with DefaultScope.overwrite_default_scope("mmdet"):
        load = MMDET_TRANSFORMS.build(dict(type="cxrdet.LoadGreyImageFromFile", channels=1, to_float32=False))
    assert type(load).__name__ == "LoadGreyImageFromFile"
    out = load(dict(img_path=str(path)))
    assert out["img"].shape == (24, 32, 1) and out["img"].dtype == np.uint16
    assert np.array_equal(out["img"][..., 0], image) and int(out["img"].max()) == 60000


def test_mmcv_default_loader_loses_the_16_bits(png16):
    """Why the transform exists: mmcv's colour read of the same file is 8-bit."""
    from mmcv.transforms import LoadImageFromFile

    path, _ = png16
    assert LoadImageFromFile()(dict(img_path=str(path)))["img"].max() <= 255


def test_8_bit_and_bad_files(tmp_path):
    from cxrdet.datasets import LoadGreyImageFromFile

    grey = np.arange(200, dtype=np.uint8).reshape(10, 20)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    out = LoadGreyImageFromFile(to_float32=False)(dict(img_path=str(tmp_path / "g.png")))
    assert out["img"].dtype == np.uint8 and np.array_equal(out["img"][..., 1], grey)
    cv2.imwrite(str(tmp_path / "c.png"), np.dstack([grey, grey, grey]))
    assert np.array_equal(LoadGreyImageFromFile(1)(dict(img_path=str(tmp_path / "c.png")))["img"][..., 0], grey)
    cv2.imwrite(str(tmp_path / "rgb.png"), np.dstack([grey, grey // 2, grey]))
    with pytest.raises(InputError, match="not a grey image"):
        LoadGreyImageFromFile()(dict(img_path=str(tmp_path / "rgb.png")))
    with pytest.raises(InputError, match="cannot read"):
        LoadGreyImageFromFile()(dict(img_path=str(tmp_path / "missing.png")))
    assert LoadGreyImageFromFile(ignore_empty=True)(dict(img_path=str(tmp_path / "missing.png"))) is None
    with pytest.raises(ValueError, match="channels"):
        LoadGreyImageFromFile(channels=2)
