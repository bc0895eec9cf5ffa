"""PackMedicalInputs and the task pipeline in the cxrdet scope: mmcv's Resize/CenterCrop/RandomFlip, the packed
tensor and data sample, and mmengine's collate + ImgDataPreprocessor over the result."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image

from cxrdet.datasets import PackMedicalInputs
from cxrdet.registry import TRANSFORMS


def test_packs_image_and_classification_label():
    img = np.random.default_rng(0).random((5, 7, 1)).astype(np.float32)
    out = PackMedicalInputs()(
        dict(img=img, gt_label=3, img_id="a", img_path="/x/a.png", ori_shape=(5, 7), img_shape=(5, 7), extra=1)
    )
    inputs, sample = out["inputs"], out["data_samples"]
    assert inputs.dtype == torch.float32 and tuple(inputs.shape) == (1, 5, 7)
    assert torch.equal(inputs[0], torch.from_numpy(img[..., 0]))
    assert sample.gt_label.dtype == torch.long and sample.gt_label.shape == () and int(sample.gt_label) == 3
    assert sample.metainfo == dict(img_id="a", img_path="/x/a.png", ori_shape=(5, 7), img_shape=(5, 7))
    assert "gt_age" not in sample and "gt_male" not in sample


def test_packs_bone_age_fields_and_channels_first():
    img = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)  # H x W x C
    out = PackMedicalInputs()(dict(img=img, gt_age=121.5, gt_male=float("nan"), flip=True))
    inputs, sample = out["inputs"], out["data_samples"]
    assert tuple(inputs.shape) == (3, 2, 3) and float(inputs[2, 1, 0]) == img[1, 0, 2]
    assert sample.gt_age.dtype == torch.float32 and float(sample.gt_age) == 121.5
    assert sample.gt_male.dtype == torch.float32 and math.isnan(float(sample.gt_male))
    assert sample.metainfo == {"flip": True}
    assert float(PackMedicalInputs()(dict(img=img, gt_age=1.0, gt_male=1.0))["data_samples"].gt_male) == 1.0


def test_prediction_time_has_no_ground_truth_and_a_2d_image_gets_a_channel():
    out = PackMedicalInputs(meta_keys=("img_id",))(dict(img=np.zeros((4, 6), np.float32), img_id="z"))
    assert tuple(out["inputs"].shape) == (1, 4, 6)
    assert out["data_samples"].metainfo == {"img_id": "z"} and not out["data_samples"].keys()


@pytest.fixture()
def png16(tmp_path):
    yy, xx = np.mgrid[0:60, 0:80]
    stored = (xx * 800 + yy * 10).astype(np.uint16)
    path = tmp_path / "p.png"
    Image.fromarray(stored).save(path)
    return path, stored


def test_mmcv_transforms_resolve_in_the_cxrdet_scope(png16):
    path, stored = png16
    cfgs = [
        dict(type="LoadMedicalImage"),
        dict(type="CenterCrop", crop_size=40),
        dict(type="RandomFlip", prob=1.0, direction="horizontal"),
        dict(type="Resize", scale=(20, 10)),
        dict(type="PackMedicalInputs"),
    ]
    with DefaultScope.overwrite_default_scope("cxrdet"):
        steps = [TRANSFORMS.build(c) for c in cfgs]
    assert [type(s).__module__.split(".")[0] for s in steps[1:4]] == ["mmcv"] * 3
    results = dict(img_path=str(path), img_id="p", gt_label=1)
    for step in steps[:3]:
        results = step(results)
    crop = stored[10:50, 20:60] / 65535.0  # the centre 40 x 40
    assert results["img"].shape[:2] == (40, 40)
    assert np.abs(results["img"][..., 0] - crop[:, ::-1]).max() < 1e-7  # flipped left-right
    packed = steps[4](steps[3](results))
    assert tuple(packed["inputs"].shape) == (1, 10, 20)  # Resize's scale is (w, h)
    meta = packed["data_samples"].metainfo
    assert meta["ori_shape"] == (60, 80) and meta["img_shape"] == (10, 20) and meta["flip"] is True


def test_collate_and_data_preprocessor(png16):
    from mmengine.dataset import pseudo_collate
    from mmengine.model import ImgDataPreprocessor

    path, stored = png16
    with DefaultScope.overwrite_default_scope("cxrdet"):
        steps = [TRANSFORMS.build(dict(type=t)) for t in ("LoadMedicalImage", "PackMedicalInputs")]
    items = []
    for label in (0, 1):
        results = dict(img_path=str(path), gt_label=label)
        for step in steps:
            results = step(results)
        items.append(results)
    batch = ImgDataPreprocessor(mean=[0.5], std=[0.25])(pseudo_collate(items))
    assert tuple(batch["inputs"].shape) == (2, 1, 60, 80)
    expected = (stored / 65535.0 - 0.5) / 0.25
    assert np.abs(batch["inputs"][1, 0].numpy() - expected).max() < 1e-5
    assert [int(s.gt_label) for s in batch["data_samples"]] == [0, 1]
