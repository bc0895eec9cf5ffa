"""ClassFolderDataset: sorted class folders, the seeded 8:2 split per class, K folds, a presplit root, patients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrdet.datasets import ClassFolderDataset
from cxrdet.errors import ConfigError, InputError

FAST = dict(serialize_data=False)  # mmengine serialises with a gc.collect() (~0.7 s in a big process)


def _write(folder: Path, names: list[str], value: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.full((6, 8), value, np.uint8)).save(folder / name)


@pytest.fixture()
def root(tmp_path) -> Path:
    base = tmp_path / "fracture"
    _write(base / "normal", [f"n{i:02d}.png" for i in range(15)], 10)
    _write(base / "fractured", [f"f{i:02d}.jpg" for i in range(9)] + ["f09.jpeg"], 200)
    (base / "fractured" / "notes.txt").write_text("not an image")
    _write(base / "fractured" / ".hidden", ["x.png"])
    return base


def _ids(ds) -> list[str]:
    return [ds.get_data_info(i)["img_id"] for i in range(len(ds))]


def test_classes_labels_and_the_8_2_split(root):
    train = ClassFolderDataset(**FAST, data_root=str(root), subset="train")
    val = ClassFolderDataset(**FAST, data_root=str(root), subset="val")
    assert train.metainfo["classes"] == ("fractured", "normal")
    infos = [val.get_data_info(i) for i in range(len(val))] + [train.get_data_info(i) for i in range(len(train))]
    assert sorted(i["img_id"] for i in infos) == sorted(
        [f"n{i:02d}" for i in range(15)] + [f"f{i:02d}" for i in range(10)]
    )
    for info in infos:
        assert info["gt_label"] == (1 if Path(info["img_path"]).parent.name == "normal" else 0)
        assert set(info) >= {"img_path", "img_id", "gt_label"} and not any(k.startswith("_") for k in info)
    assert not set(_ids(train)) & set(_ids(val))
    val_labels = [val.get_data_info(i)["gt_label"] for i in range(len(val))]
    assert val_labels.count(0) == 2 and val_labels.count(1) == 3  # 20 % of 10 and of 15


def test_seed_decides_the_split(root):
    a = _ids(ClassFolderDataset(**FAST, data_root=str(root), subset="val", seed=1))
    assert a == _ids(ClassFolderDataset(**FAST, data_root=str(root), subset="val", seed=1))
    others = [_ids(ClassFolderDataset(**FAST, data_root=str(root), subset="val", seed=s)) for s in (2, 3, 4)]
    assert any(sorted(o) != sorted(a) for o in others)


def test_folds_cover_every_image_once(root):
    assert ClassFolderDataset.available_splits(str(root), num_folds=4) == ["all", "fold0", "fold1", "fold2", "fold3"]
    vals = [
        set(_ids(ClassFolderDataset(**FAST, data_root=str(root), split=f"fold{k}", subset="val", num_folds=4)))
        for k in range(4)
    ]
    assert sum(len(v) for v in vals) == 25 and len(set().union(*vals)) == 25
    train1 = set(_ids(ClassFolderDataset(**FAST, data_root=str(root), split="fold1", subset="train", num_folds=4)))
    assert train1 == set().union(*vals) - vals[1]


def test_presplit_root_keeps_its_own_folders(tmp_path):
    base = tmp_path / "pre"
    _write(base / "train" / "a", ["1.png", "2.png", "3.png"])
    _write(base / "train" / "b", ["4.png", "5.png"])
    _write(base / "val" / "a", ["6.png"])
    _write(base / "val" / "c", ["7.png"])
    train = ClassFolderDataset(**FAST, data_root=str(base), subset="train")
    val = ClassFolderDataset(**FAST, data_root=str(base), subset="val")
    assert train.metainfo["classes"] == ("a", "b", "c")
    assert sorted(_ids(train)) == ["1", "2", "3", "4", "5"] and sorted(_ids(val)) == ["6", "7"]
    assert {val.get_data_info(i)["img_id"]: val.get_data_info(i)["gt_label"] for i in range(2)} == {"6": 0, "7": 2}
    folds = [
        set(_ids(ClassFolderDataset(**FAST, data_root=str(base), split=f"fold{k}", subset="val", num_folds=2)))
        for k in (0, 1)
    ]
    assert folds[0] | folds[1] == {"1", "2", "3", "4", "5", "6", "7"} and not folds[0] & folds[1]


def test_patients_stay_in_one_subset(tmp_path):
    base = tmp_path / "pat"
    names = {c: [f"{c}{i}.png" for i in range(12)] for c in ("x", "y")}
    for c, files in names.items():
        _write(base / c, files)
    rows = ["image_id,patient_id"] + [f"{c}{i},P{i // 3}" for c in "xy" for i in range(12)]  # 4 patients x 6 images
    (base / "patients.csv").write_text("\n".join(rows) + "\n")
    for seed in range(5):
        val = set(_ids(ClassFolderDataset(**FAST, data_root=str(base), subset="val", seed=seed)))
        patients = {int(i[1:]) // 3 for i in val}
        assert len(patients) == 1 and val == {f"{c}{i}" for c in "xy" for i in range(12) if i // 3 in patients}


def test_pipeline_runs_in_the_cxrdet_scope(root):
    from mmengine.registry import DefaultScope

    pipeline = [dict(type="LoadMedicalImage"), dict(type="Resize", scale=(16, 12)), dict(type="PackMedicalInputs")]
    with DefaultScope.overwrite_default_scope("cxrdet"):
        ds = ClassFolderDataset(data_root=str(root), subset="val", pipeline=pipeline)  # serialised, as in training
        item = ds[0]
    assert tuple(item["inputs"].shape) == (1, 12, 16)
    sample = item["data_samples"]
    assert int(sample.gt_label) == ds.get_data_info(0)["gt_label"] and sample.img_id == ds.get_data_info(0)["img_id"]


def test_registered_by_name():
    from mmengine.registry import DefaultScope

    from cxrdet.registry import DATASETS

    with DefaultScope.overwrite_default_scope("cxrdet"):
        assert DATASETS.get("ClassFolderDataset") is ClassFolderDataset


def test_errors(tmp_path, root):
    with pytest.raises(ConfigError, match="data_root is not set"):
        ClassFolderDataset(**FAST, data_root=None)
    with pytest.raises(ConfigError, match="split='fold9'"):
        ClassFolderDataset(**FAST, data_root=str(root), split="fold9")
    with pytest.raises(ConfigError, match="split='last'"):
        ClassFolderDataset(**FAST, data_root=str(root), split="last")
    with pytest.raises(ConfigError, match="subset='test'"):
        ClassFolderDataset(**FAST, data_root=str(root), subset="test")
    with pytest.raises(InputError, match="no such folder"):
        ClassFolderDataset(**FAST, data_root=str(tmp_path / "nothing"))
    (tmp_path / "flat").mkdir()
    with pytest.raises(InputError, match="no class folder"):
        ClassFolderDataset(**FAST, data_root=str(tmp_path / "flat"))
    (root / "empty_class").mkdir()
    with pytest.raises(InputError, match="class folder without images") as info:
        ClassFolderDataset(**FAST, data_root=str(root))
    assert info.value.path == str(root / "empty_class")
    (root / "empty_class").rmdir()
    (root / "patients.csv").write_text("image_id,patient_id\nn00,A\nn00,B\n")
    with pytest.raises(InputError, match="listed twice") as info:
        ClassFolderDataset(**FAST, data_root=str(root))
    assert info.value.row == 3
