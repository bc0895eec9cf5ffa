"""BoneAgeDataset over the RSNA layout: ages in months, sex from the CSV or a DICOM's PatientSex, bad rows named."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrdet.datasets import BoneAgeDataset
from cxrdet.errors import InputError

FAST = dict(serialize_data=False)  # mmengine serialises with a gc.collect() (~0.7 s in a big process)


def _rsna(tmp_path: Path, rows: list[str], n_png: int = 20) -> Path:
    root = tmp_path / "rsna"
    images = root / "imgs"
    images.mkdir(parents=True)
    for i in range(n_png):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(images / f"{1000 + i}.png")
    (root / "train.csv").write_text("\n".join(["id,boneage,male", *rows]) + "\n")
    return root


def _all(ds) -> dict[str, dict]:
    return {ds.get_data_info(i)["img_id"]: ds.get_data_info(i) for i in range(len(ds))}


def _both(root: Path, **kwargs) -> dict[str, dict]:
    opts = dict(data_root=str(root), ann_file="train.csv", img_dir="imgs", **kwargs)
    return {
        **_all(BoneAgeDataset(**FAST, subset="train", **opts)),
        **_all(BoneAgeDataset(**FAST, subset="val", **opts)),
    }


def test_rows_become_ages_in_months_and_sexes(tmp_path):
    rows = [f"{1000 + i},{6 + 11 * i},{['True', 'False', '1', '0', ''][i % 5]}" for i in range(20)]
    root = _rsna(tmp_path, rows)
    infos = _both(root)
    assert len(infos) == 20
    for i in range(20):
        info = infos[str(1000 + i)]
        assert info["gt_age"] == 6.0 + 11 * i and isinstance(info["gt_age"], float)
        expected = [1.0, 0.0, 1.0, 0.0, math.nan][i % 5]
        assert info["gt_male"] == expected or (math.isnan(expected) and math.isnan(info["gt_male"]))
        assert info["img_path"] == str(root / "imgs" / f"{1000 + i}.png")
        assert not any(k.startswith("_") for k in info)


def test_split_is_8_2_and_stratified_by_age_band(tmp_path):
    rows = [f"{1000 + i},{(i % 2) * 100 + i},{'True'}" for i in range(20)]  # two 2-year bands of 10 boys
    root = _rsna(tmp_path, rows)
    opts = dict(data_root=str(root), ann_file="train.csv", img_dir="imgs")
    val = _all(BoneAgeDataset(**FAST, subset="val", **opts))
    train = _all(BoneAgeDataset(**FAST, subset="train", **opts))
    assert len(val) == 4 and len(train) == 16 and not set(val) & set(train)
    assert sorted(int(v["gt_age"]) // 24 for v in val.values()).count(0) == 2  # 2 young, 2 old


def test_patient_column_groups_images(tmp_path):
    rows = [f"{1000 + i},{12 * i},False,PAT{i // 4}" for i in range(20)]
    root = _rsna(tmp_path, [])
    (root / "train.csv").write_text("\n".join(["id,boneage,male,patient_id", *rows]) + "\n")
    opts = dict(data_root=str(root), ann_file="train.csv", img_dir="imgs")
    for seed in range(3):
        val = _all(BoneAgeDataset(**FAST, subset="val", seed=seed, **opts))
        patients = {(int(k) - 1000) // 4 for k in val}
        assert len(val) == 4 * len(patients)


def test_unknown_sex_read_from_a_dicom_header(tmp_path):
    from cxrdet.example.dicom_writer import write_dicom

    root = _rsna(tmp_path, [f"{1000 + i},{30 + i},True" for i in range(8)] + ["d1,40,", "d2,50,", "d3,60,"])
    stored = np.arange(64, dtype=np.uint16).reshape(8, 8)
    write_dicom(root / "imgs" / "d1.dcm", stored, sex="F")
    write_dicom(root / "imgs" / "d2.dcm", stored, sex="M")
    write_dicom(root / "imgs" / "d3.dcm", stored, sex=None)
    infos = _both(root)
    assert infos["d1"]["gt_male"] == 0.0 and infos["d2"]["gt_male"] == 1.0 and math.isnan(infos["d3"]["gt_male"])
    assert infos["d1"]["img_path"].endswith("d1.dcm")
    off = _both(root, sex_from_dicom=False)
    assert math.isnan(off["d1"]["gt_male"])


@pytest.mark.parametrize(
    "bad, line, message",
    [
        ("1003,ten,True", 5, "boneage 'ten' is not a number"),
        ("1003,-3,True", 5, "must be a finite number of months >= 0"),
        ("1003,inf,True", 5, "must be a finite number"),
        ("1003,,True", 5, "is not a number"),
        ("1003,12,maybe", 5, "male 'maybe'"),
        ("1999,12,True", 5, "no image '1999'"),
        ("1001,12,True", 5, "listed twice"),
        (",12,True", 5, "empty id"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, bad, line, message):
    rows = [f"{1000 + i},{10 * (i + 1)},True" for i in range(3)] + [bad] + [f"{1004 + i},50,False" for i in range(6)]
    root = _rsna(tmp_path, rows)
    with pytest.raises(InputError, match=message) as info:
        BoneAgeDataset(**FAST, data_root=str(root), ann_file="train.csv", img_dir="imgs")
    assert info.value.path == str(root / "train.csv") and info.value.row == line
    assert f"train.csv, line {line}" in str(info.value)


def test_missing_column_and_folder(tmp_path):
    root = _rsna(tmp_path, ["1000,10,True"])
    (root / "bad.csv").write_text("id,age,male\n1000,10,True\n")
    with pytest.raises(InputError, match="missing column"):
        BoneAgeDataset(**FAST, data_root=str(root), ann_file="bad.csv", img_dir="imgs")
    with pytest.raises(InputError, match="no such image folder"):
        BoneAgeDataset(**FAST, data_root=str(root), ann_file="train.csv", img_dir="nowhere")
    with pytest.raises(InputError, match="no such file"):
        BoneAgeDataset(**FAST, data_root=str(root), ann_file="none.csv", img_dir="imgs")


def test_available_splits_and_folds(tmp_path):
    root = _rsna(tmp_path, [f"{1000 + i},{5 * i},{'True' if i % 2 else 'False'}" for i in range(20)])
    opts = dict(ann_file="train.csv", img_dir="imgs", num_folds=3)
    assert BoneAgeDataset.available_splits(str(root), **opts) == ["all", "fold0", "fold1", "fold2"]
    vals = [
        set(_all(BoneAgeDataset(**FAST, data_root=str(root), split=f"fold{k}", subset="val", **opts))) for k in range(3)
    ]
    assert sum(map(len, vals)) == 20 and len(set().union(*vals)) == 20
