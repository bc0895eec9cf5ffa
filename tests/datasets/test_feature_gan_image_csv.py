"""ImageCsvDataset: a CheXpert-style CSV of paths and labels, its split, a held-out file, bad rows named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrdet.datasets.image_csv import ImageCsvDataset
from cxrdet.errors import ConfigError, InputError

FAST = dict(serialize_data=False)


def _root(tmp_path: Path, rows: list[str], header: str = "Path,label", n: int = 30) -> Path:
    root = tmp_path / "csv"
    (root / "imgs").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(root / "imgs" / f"{i:03d}.png")
    (root / "train.csv").write_text("\n".join([header, *rows]) + "\n")
    return root


def _infos(ds) -> dict[str, dict]:
    return {ds.get_data_info(i)["img_id"]: ds.get_data_info(i) for i in range(len(ds))}


def test_labels_classes_and_a_disjoint_split(tmp_path):
    names = ["cat", "ant", "bee"]
    rows = [f"imgs/{i:03d}.png,{names[i % 3]}" for i in range(30)]
    root = _root(tmp_path, rows)
    train = ImageCsvDataset(data_root=str(root), subset="train", **FAST)
    val = ImageCsvDataset(data_root=str(root), subset="val", **FAST)
    assert train.metainfo["classes"] == ("ant", "bee", "cat")  # sorted names
    a, b = _infos(train), _infos(val)
    assert not set(a) & set(b) and len(a) + len(b) == 30 and len(b) == 6  # 8:2, 2 per class
    for image_id, info in {**a, **b}.items():
        i = int(image_id)
        assert info["gt_label"] == ("ant", "bee", "cat").index(names[i % 3])
        assert info["img_path"] == str(root / "imgs" / f"{i:03d}.png")
    given = ImageCsvDataset(data_root=str(root), subset="train", classes=["cat", "bee", "ant"], **FAST)
    assert given.metainfo["classes"] == ("cat", "bee", "ant")
    assert all(info["gt_label"] == ["cat", "bee", "ant"].index(names[int(k) % 3]) for k, info in _infos(given).items())


def test_held_out_file_is_read_whole_whatever_the_split(tmp_path):
    rows = [f"imgs/{i:03d}.png,{'ab'[i % 2]}" for i in range(10)]
    root = _root(tmp_path, rows, n=10)
    for subset in ("train", "val"):
        ds = ImageCsvDataset(data_root=str(root), held_out=True, split="fold1", subset=subset, **FAST)
        assert len(ds) == 10


def test_chexpert_layout_one_column_per_class_and_patients(tmp_path):
    root = tmp_path / "chexpert"
    rows = []
    for p in range(12):
        for view in range(2):
            rel = f"CheXpert-v1.0-small/train/patient{p:05d}/study1/view{view}_frontal.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8), p, np.uint8)).save(root / rel, format="JPEG")
            cells = ["", "", ""]
            cells[p % 3] = "1.0"
            if p == 11:
                cells = ["1.0", "1.0", ""]  # two findings: left out
            if p == 10:
                cells = ["-1.0", "", "0.0"]  # uncertain only: left out
            rows.append(f"{rel},Frontal,{','.join(cells)}")
    (root / "CheXpert-v1.0-small").mkdir(exist_ok=True)
    (root / "CheXpert-v1.0-small" / "train.csv").write_text(
        "\n".join(["Path,Frontal/Lateral,Edema,Atelectasis,No Finding", *rows]) + "\n"
    )
    opts = dict(data_root=str(root), ann_file="CheXpert-v1.0-small/train.csv", label_column=None, **FAST)
    classes = ["Atelectasis", "Edema", "No Finding"]
    train = ImageCsvDataset(subset="train", classes=classes, **opts)
    val = ImageCsvDataset(subset="val", classes=classes, **opts)
    infos = {**_infos(train), **_infos(val)}
    assert len(infos) == 20  # patients 10 and 11 have no single finding
    for image_id, info in infos.items():
        patient = int(image_id.split("/")[2][len("patient") :])
        assert info["gt_label"] == classes.index(["Edema", "Atelectasis", "No Finding"][patient % 3])
    patients = {k.split("/")[2] for k in _infos(train)}
    assert not patients & {k.split("/")[2] for k in _infos(val)}  # a patient's two views stay together
    with pytest.raises(ConfigError, match="needs classes"):
        ImageCsvDataset(subset="train", **opts)


def test_bad_rows_are_named_with_their_line(tmp_path):
    root = _root(tmp_path, ["imgs/000.png,a", "imgs/001.png,b", "imgs/099.png,a"])
    with pytest.raises(InputError, match=r"line 4.*not found") as err:
        ImageCsvDataset(data_root=str(root), subset="train", **FAST)
    assert "train.csv" in str(err.value)
    root2 = _root(tmp_path / "2", ["imgs/000.png,a", "imgs/000.png,b"])
    with pytest.raises(InputError, match=r"line 3.*listed twice"):
        ImageCsvDataset(data_root=str(root2), subset="train", **FAST)
    root3 = _root(tmp_path / "3", ["imgs/000.png,a", "imgs/001.png,z"])
    with pytest.raises(InputError, match=r"line 3.*'z' is not one of"):
        ImageCsvDataset(data_root=str(root3), subset="train", classes=["a", "b"], **FAST)
    root4 = _root(tmp_path / "4", ["imgs/000.png,a"], header="file,label")
    with pytest.raises(InputError, match="missing column"):
        ImageCsvDataset(data_root=str(root4), subset="train", classes=["a", "b"], **FAST)
