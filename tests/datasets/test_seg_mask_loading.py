"""LoadMaskFromFile + mmcv's geometric transforms + PackMedicalInputs: a label PNG becomes ``gt_seg_map`` and then
the data sample's long ``gt_mask``; Resize (nearest: no new values; an exact 2x shrink keeps every other pixel),
RandomFlip and CenterCrop move it exactly as the image (checked by hand-made reference slices); no mask: no key;
bad masks: InputError naming the file. Also LoadMedicalImage(colour=True) keeps an RGB file's channels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from cxrdet.datasets.transforms import LoadMaskFromFile, LoadMedicalImage
from cxrdet.errors import InputError
from cxrdet.registry import TRANSFORMS

H, W = 40, 60


@pytest.fixture()
def pair(tmp_path):
    """An image whose grey value is its column index, and a 3-class mask of bands and a square."""
    image = np.repeat(np.arange(W, dtype=np.uint8)[None, :] * 4, H, axis=0)
    mask = np.zeros((H, W), np.uint8)
    mask[:, 30:] = 1
    mask[8:20, 6:18] = 2
    cv2.imwrite(str(tmp_path / "a.png"), image)
    cv2.imwrite(str(tmp_path / "a_mask.png"), mask)
    return tmp_path, image, mask


def _run(steps: list[dict], results: dict) -> dict:
    with DefaultScope.overwrite_default_scope("cxrdet"):
        transforms = [TRANSFORMS.build(step) for step in steps]
    for t in transforms:
        results = t(results)
    return results


def _start(root) -> dict:
    return dict(img_path=str(root / "a.png"), seg_map_path=str(root / "a_mask.png"), img_id="a")


def test_loads_and_packs_the_mask(pair):
    root, _, mask = pair
    out = _run(
        [dict(type="LoadMedicalImage"), dict(type="LoadMaskFromFile"), dict(type="PackMedicalInputs")], _start(root)
    )
    gt = out["data_samples"].gt_mask
    assert gt.dtype == torch.long and tuple(gt.shape) == (H, W)
    assert torch.equal(gt, torch.from_numpy(mask.astype(np.int64)))


def test_resize_is_nearest_and_moves_with_the_image(pair):
    root, _, mask = pair
    out = _run(
        [dict(type="LoadMedicalImage"), dict(type="LoadMaskFromFile"), dict(type="Resize", scale=(30, 20))],
        _start(root),
    )
    assert out["gt_seg_map"].shape == (20, 30) and out["img"].shape[:2] == (20, 30)
    np.testing.assert_array_equal(out["gt_seg_map"], mask[::2, ::2])  # nearest at an exact 2x shrink
    odd = _run(
        [dict(type="LoadMedicalImage"), dict(type="LoadMaskFromFile"), dict(type="Resize", scale=(37, 23))],
        _start(root),
    )
    assert odd["gt_seg_map"].dtype == np.uint8 and set(np.unique(odd["gt_seg_map"])) == {0, 1, 2}  # no blends
    # the band edge stays at the image's column 30 of 60: half way across, in both
    cols = np.flatnonzero(odd["gt_seg_map"][-1] == 1)
    assert cols[0] == pytest.approx(37 / 2, abs=1)


def test_flip_and_center_crop_move_with_the_image(pair):
    root, image, mask = pair
    steps = [
        dict(type="LoadMedicalImage"),
        dict(type="LoadMaskFromFile"),
        dict(type="RandomFlip", prob=1.0, direction="horizontal"),
        dict(type="CenterCrop", crop_size=(20, 30)),  # (w, h)
    ]
    out = _run(steps, _start(root))
    expected = mask[:, ::-1][5:35, 20:40]  # flipped, then the central 30 rows x 20 columns
    np.testing.assert_array_equal(out["gt_seg_map"], expected)
    np.testing.assert_allclose(out["img"][..., 0], image[:, ::-1][5:35, 20:40] / 255.0, atol=1e-6)
    vertical = _run(
        [
            dict(type="LoadMedicalImage"),
            dict(type="LoadMaskFromFile"),
            dict(type="RandomFlip", prob=1.0, direction="vertical"),
        ],
        _start(root),
    )
    np.testing.assert_array_equal(vertical["gt_seg_map"], mask[::-1])


def test_no_mask_no_key(pair):
    root, _, _ = pair
    for results in (dict(img_path=str(root / "a.png")), dict(img_path=str(root / "a.png"), seg_map_path=None)):
        out = _run(
            [dict(type="LoadMedicalImage"), dict(type="LoadMaskFromFile"), dict(type="PackMedicalInputs")], results
        )
        assert "gt_mask" not in out["data_samples"]


def test_binary_masks_stored_as_255(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 3:7] = 255
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    out = LoadMaskFromFile(binary=True)(dict(seg_map_path=str(tmp_path / "m.png")))
    np.testing.assert_array_equal(out["gt_seg_map"], (mask > 0).astype(np.uint8))


def test_bad_masks_name_the_file(pair, tmp_path):
    root, _, mask = pair
    cv2.imwrite(str(tmp_path / "small.png"), mask[:, :50])
    with pytest.raises(InputError, match=r"small\.png.*mask size 50x40 differs from the image's 60x40"):
        LoadMaskFromFile()(dict(seg_map_path=str(tmp_path / "small.png"), ori_shape=(H, W)))
    with pytest.raises(InputError, match=r"missing\.png.*cannot read the mask"):
        LoadMaskFromFile()(dict(seg_map_path=str(tmp_path / "missing.png")))
    with pytest.raises(InputError, match=r"a_mask\.png.*mask value 2 is not a class index \(expected < 2"):
        LoadMaskFromFile(num_classes=2)(dict(seg_map_path=str(root / "a_mask.png")))
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[0, 0] = (1, 2, 3)
    cv2.imwrite(str(tmp_path / "rgb.png"), colour)
    with pytest.raises(InputError, match=r"rgb\.png.*one channel"):
        LoadMaskFromFile()(dict(seg_map_path=str(tmp_path / "rgb.png")))
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((4, 4), 300, np.uint16))
    with pytest.raises(InputError, match=r"deep\.png.*mask value 300"):
        LoadMaskFromFile()(dict(seg_map_path=str(tmp_path / "deep.png")))
    ignore = mask.copy()
    ignore[0, 0] = 255
    cv2.imwrite(str(tmp_path / "ignore.png"), ignore)
    assert LoadMaskFromFile(num_classes=3)(dict(seg_map_path=str(tmp_path / "ignore.png")))["gt_seg_map"][0, 0] == 255


def test_colour_loading_keeps_rgb(tmp_path):
    bgr = np.zeros((3, 5, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 10, 100, 250  # stored B, G, R
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    img = LoadMedicalImage(channels=3, colour=True)(dict(img_path=str(tmp_path / "c.png")))["img"]
    np.testing.assert_allclose(img[0, 0], [250 / 255, 100 / 255, 10 / 255], atol=1e-6)  # R, G, B
    grey = LoadMedicalImage(channels=3)(dict(img_path=str(tmp_path / "c.png")))["img"]
    assert np.allclose(grey[..., 0], grey[..., 2])  # without colour: 3 equal grey channels
    cv2.imwrite(str(tmp_path / "g.png"), np.full((3, 5), 51, np.uint8))
    same = LoadMedicalImage(channels=3, colour=True)(dict(img_path=str(tmp_path / "g.png")))["img"]
    assert same.shape == (3, 5, 3) and np.allclose(same, 0.2)
    with pytest.raises(ValueError, match="colour=True needs channels=3"):
        LoadMedicalImage(channels=1, colour=True)
