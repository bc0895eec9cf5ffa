"""VinDrImageDataset on the session's converted example: normal = no fused finding box, the convert folds, 'all'."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from cxrdet.datasets import VinDrImageDataset
from cxrdet.errors import ConfigError, InputError

FAST = dict(serialize_data=False)  # mmengine serialises with a gc.collect() (~0.7 s in a big process)


def _labels(ds) -> dict[str, int]:
    return {ds.get_data_info(i)["img_id"]: ds.get_data_info(i)["gt_label"] for i in range(len(ds))}


@pytest.fixture(scope="module")
def truth(converted_example):
    folds = pd.read_csv(converted_example / "folds.csv", dtype={"image_id": str})
    boxes = pd.read_csv(converted_example / "labels_fused.csv", dtype={"image_id": str})
    abnormal = set(boxes["image_id"])
    return {i: (int(i in abnormal), int(f)) for i, f in zip(folds["image_id"], folds["fold"])}


def test_all_split_trains_and_validates_on_every_labelled_image(converted_example, truth):
    train = VinDrImageDataset(**FAST, data_root=str(converted_example), subset="train")
    val = VinDrImageDataset(**FAST, data_root=str(converted_example), subset="val")
    assert train.metainfo["classes"] == ("normal", "abnormal")
    expected = {i: label for i, (label, _) in truth.items()}
    assert _labels(train) == expected and _labels(val) == expected
    assert 0 < sum(expected.values()) < len(expected)  # the example has normal and abnormal images
    info = train.get_data_info(0)
    assert info["img_path"] == str(converted_example / "images" / f"{info['img_id']}.png")


def test_folds_are_the_convert_folders(converted_example, truth):
    k = max(f for _, f in truth.values()) + 1
    assert VinDrImageDataset.available_splits(str(converted_example), num_folds=7) == ["all"] + [
        f"fold{i}" for i in range(k)
    ]
    for fold in range(k):
        val = VinDrImageDataset(**FAST, data_root=str(converted_example), split=f"fold{fold}", subset="val")
        train = VinDrImageDataset(**FAST, data_root=str(converted_example), split=f"fold{fold}", subset="train")
        assert set(_labels(val)) == {i for i, (_, f) in truth.items() if f == fold}
        assert set(_labels(train)) == {i for i, (_, f) in truth.items() if f != fold}
    with pytest.raises(ConfigError, match=f"there are {k} folds"):
        VinDrImageDataset(**FAST, data_root=str(converted_example), split=f"fold{k}")


def test_pipeline_reads_the_16_bit_pngs(converted_example):
    import cv2
    from mmengine.registry import DefaultScope

    pipeline = [dict(type="LoadMedicalImage"), dict(type="Resize", scale=(64, 64)), dict(type="PackMedicalInputs")]
    with DefaultScope.overwrite_default_scope("cxrdet"):
        ds = VinDrImageDataset(data_root=str(converted_example), split="fold0", subset="val", pipeline=pipeline)
        item = ds[0]
    raw = cv2.imread(ds.get_data_info(0)["img_path"], cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    assert tuple(item["inputs"].shape) == (1, 64, 64) and float(item["inputs"].min()) >= 0.0
    assert float(item["inputs"].max()) <= 1.0
    assert item["data_samples"].ori_shape == raw.shape[:2]


def test_missing_files_are_named(converted_example, tmp_path):
    copy = tmp_path / "conv"
    shutil.copytree(converted_example, copy, ignore=shutil.ignore_patterns("coco", "yolo"))
    (copy / "folds.csv").unlink()
    with pytest.raises(InputError, match="--folds") as info:
        VinDrImageDataset(**FAST, data_root=str(copy))
    assert info.value.path == str(copy / "folds.csv")
    shutil.copy(converted_example / "folds.csv", copy / "folds.csv")
    first = pd.read_csv(copy / "folds.csv", dtype=str)["image_id"].iloc[0]
    (copy / "images" / f"{first}.png").unlink()
    with pytest.raises(InputError, match=f"{first}.png") as info:
        VinDrImageDataset(**FAST, data_root=str(copy))
    assert info.value.row == 2 and info.value.path == str(copy / "folds.csv")
