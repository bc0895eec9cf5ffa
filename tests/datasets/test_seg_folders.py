"""SegmentationDataset: items (image, id, mask path) of the gastric layout, the seeded split stratified by labels.csv
(or by whether a mask has foreground), a patient's images in one subset, a pipeline that packs gt_mask, and clear
errors (an image without mask, a labels.csv that misses an image, a missing folder)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from mmengine.registry import DefaultScope

from cxrdet.errors import ConfigError, InputError
from cxrdet.example.gastric import make_gastric_example
from cxrdet.registry import DATASETS


@pytest.fixture(scope="module")
def gastric(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seg") / "g"
    make_gastric_example(out, n=20, size=48)
    return out


def _build(**cfg):
    with DefaultScope.overwrite_default_scope("cxrdet"):
        return DATASETS.build(dict(type="SegmentationDataset", **cfg))


def _ids(dataset) -> list[str]:
    return [dataset.get_data_info(i)["img_id"] for i in range(len(dataset))]


def test_items_and_a_split_stratified_by_the_labels(gastric):
    train, val = (_build(data_root=str(gastric), subset=s) for s in ("train", "val"))
    assert train.metainfo["classes"] == ("background", "lesion")
    info = val.get_data_info(0)
    assert set(info) >= {"img_path", "img_id", "seg_map_path"}
    assert Path(info["img_path"]) == gastric / "images" / f"{info['img_id']}.png"
    assert Path(info["seg_map_path"]) == gastric / "masks" / f"{info['img_id']}.png"
    assert sorted(_ids(train) + _ids(val)) == [f"G{i:04d}" for i in range(20)]
    labels = pd.read_csv(gastric / "labels.csv").set_index("image_id")["label"]
    assert sorted(labels[_ids(val)]) == ["egc", "egc", "normal", "normal"]  # 20% of 10 + 10, per class


def test_without_labels_the_masks_stratify(gastric, tmp_path):
    root = tmp_path / "g"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for p in (gastric / sub).iterdir():
            (root / sub / p.name).write_bytes(p.read_bytes())
    val = _build(data_root=str(root), subset="val", seed=3)
    has_lesion = [bool(cv2.imread(val.get_data_info(i)["seg_map_path"], 0).any()) for i in range(len(val))]
    assert sorted(has_lesion) == [False, False, True, True]


def test_patients_stay_in_one_subset(gastric, tmp_path):
    root = tmp_path / "g"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for p in (gastric / sub).iterdir():
            (root / sub / p.name).write_bytes(p.read_bytes())
    ids = [f"G{i:04d}" for i in range(20)]
    pd.DataFrame({"image_id": ids, "patient_id": [f"P{i // 4}" for i in range(20)]}).to_csv(
        root / "patients.csv", index=False
    )
    for fold in range(5):
        val = _build(data_root=str(root), split=f"fold{fold}", subset="val")
        patients = {int(i[1:]) // 4 for i in _ids(val)}
        assert len(_ids(val)) == 4 * len(patients)  # whole patients only


def test_pipeline_packs_the_mask(gastric):
    pipeline = [
        dict(type="LoadMedicalImage", channels=3, colour=True),
        dict(type="LoadMaskFromFile", num_classes=2),
        dict(type="Resize", scale=(32, 32), keep_ratio=False),
        dict(type="PackMedicalInputs"),
    ]
    dataset = _build(data_root=str(gastric), subset="train", pipeline=pipeline)
    out = dataset[0]
    assert tuple(out["inputs"].shape) == (3, 32, 32)
    gt = out["data_samples"].gt_mask
    assert gt.dtype == torch.long and tuple(gt.shape) == (32, 32)
    mask = cv2.imread(dataset.get_data_info(0)["seg_map_path"], cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(gt.numpy(), cv2.resize(mask, (32, 32), interpolation=cv2.INTER_NEAREST))


def test_errors_name_what_is_wrong(gastric, tmp_path):
    root = tmp_path / "g"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    (root / "images" / "a.png").write_bytes((gastric / "images" / "G0000.png").read_bytes())
    with pytest.raises(InputError, match=r"a\.png.*has no mask a\.<png"):
        _build(data_root=str(root))
    (root / "masks" / "a.png").write_bytes((gastric / "masks" / "G0000.png").read_bytes())
    (root / "labels.csv").write_text("image_id,label\nb,egc\n")
    with pytest.raises(InputError, match=r"labels\.csv.*no label for image 'a'"):
        _build(data_root=str(root))
    with pytest.raises(InputError, match="no such mask folder"):
        _build(data_root=str(root), mask_dir="labels")
    with pytest.raises(ConfigError, match="two or more distinct"):
        _build(data_root=str(root), classes=("background",))
