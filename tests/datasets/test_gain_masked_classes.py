"""MaskedClassDataset: the gastric layout, its split, images without masks, and bad rows named by file and line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from cxrdet.datasets.masked_classes import MaskedClassDataset
from cxrdet.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def gastric(tmp_path_factory) -> Path:
    from cxrdet.example.gastric import make_gastric_example

    out = tmp_path_factory.mktemp("gastric") / "data"
    make_gastric_example(out, n=20, seed=0, size=48)
    return out


def _tiny(root: Path, rows: str, masks: dict[str, np.ndarray] | None = None, images=("a", "b", "c", "d")) -> Path:
    (root / "images").mkdir(parents=True)
    for name in images:
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.full((8, 8, 3), 100, np.uint8))
    if masks is not None:
        (root / "masks").mkdir()
        for name, mask in masks.items():
            cv2.imwrite(str(root / "masks" / f"{name}.png"), mask)
    (root / "labels.csv").write_text(rows)
    return root


def test_reads_the_gastric_example_with_masks_and_a_stratified_split(gastric) -> None:
    labels = pd.read_csv(gastric / "labels.csv", dtype=str).set_index("image_id")["label"]
    train = MaskedClassDataset(data_root=str(gastric), subset="train")
    val = MaskedClassDataset(data_root=str(gastric), subset="val")
    assert train.metainfo["classes"] == ("normal", "egc")
    items = [train.get_data_info(i) for i in range(len(train))] + [val.get_data_info(i) for i in range(len(val))]
    assert sorted(d["img_id"] for d in items) == sorted(labels.index) and len(val) == 4  # 20 images, 8:2
    assert sum(val.get_data_info(i)["gt_label"] for i in range(len(val))) == 2  # stratified: 2 of each class
    for d in items:
        assert d["gt_label"] == ("normal", "egc").index(labels[d["img_id"]])
        assert Path(d["img_path"]) == gastric / "images" / f"{d['img_id']}.png"
        assert Path(d["seg_map_path"]) == gastric / "masks" / f"{d['img_id']}.png"


def test_the_pipeline_gives_rgb_inputs_and_the_mask_as_gt_mask(gastric) -> None:
    pipeline = [
        dict(type="LoadMedicalImage", channels=3, colour=True),
        dict(type="LoadMaskFromFile"),
        dict(type="Resize", scale=(32, 32)),
        dict(type="PackMedicalInputs"),
    ]
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("cxrdet"):
        data = MaskedClassDataset(data_root=str(gastric), subset="train", pipeline=pipeline)
        egc = next(i for i in range(len(data)) if data.get_data_info(i)["gt_label"] == 1)
        packed = data[egc]
    info = data.get_data_info(egc)
    assert packed["inputs"].shape == (3, 32, 32)
    bgr = cv2.imread(info["img_path"])
    assert not np.allclose(bgr[..., 0], bgr[..., 2])  # colour kept: R and B differ in the file ...
    assert not np.allclose(packed["inputs"][0], packed["inputs"][2])  # ... and in the model input
    mask = cv2.resize(cv2.imread(info["seg_map_path"], cv2.IMREAD_UNCHANGED), (32, 32), interpolation=cv2.INTER_NEAREST)
    sample = packed["data_samples"]
    assert int(sample.gt_label) == 1 and sample.gt_mask.shape == (32, 32)
    assert np.array_equal(sample.gt_mask.numpy(), mask) and int(sample.gt_mask.sum()) > 0


def test_image_without_mask_file_has_none_and_patients_stay_together(tmp_path) -> None:
    rows = "image_id,label,patient_id\na,normal,p1\nb,egc,p1\nc,egc,p2\nd,normal,p3\n"
    root = _tiny(tmp_path / "d", rows, masks={"b": np.ones((8, 8), np.uint8)})
    data = [MaskedClassDataset(data_root=str(root), subset=s, val_fraction=0.3) for s in ("train", "val")]
    infos = {d["img_id"]: d for ds in data for d in (ds.get_data_info(i) for i in range(len(ds)))}
    assert infos["a"]["seg_map_path"] is None and infos["b"]["seg_map_path"].endswith("masks/b.png")
    subsets = {d["img_id"]: k for k, ds in enumerate(data) for d in (ds.get_data_info(i) for i in range(len(ds)))}
    assert subsets["a"] == subsets["b"]  # patient p1's images in one subset


@pytest.mark.parametrize(
    ("rows", "match", "line"),
    [
        ("image_id,label\na,normal\nb,cancer\n", "label 'cancer' of 'b' is not one of", 3),
        ("image_id,label\na,normal\na,egc\n", "listed twice", 3),
        ("image_id,label\na,normal\nzz,egc\n", "no image 'zz'", 3),
        ("image_id,label\n,normal\n", "empty image_id", 2),
        ("image,label\na,normal\n", "missing column", 1),
    ],
)
def test_bad_rows_name_the_csv_and_its_line(tmp_path, rows, match, line) -> None:
    root = _tiny(tmp_path / "d", rows)
    with pytest.raises(InputError, match=match) as err:
        MaskedClassDataset(data_root=str(root))
    assert err.value.path == str(root / "labels.csv") and err.value.row == line


def test_bad_classes_and_missing_image_folder(tmp_path) -> None:
    with pytest.raises(ConfigError, match="distinct"):
        MaskedClassDataset(data_root=str(tmp_path), classes=("egc", "egc"))
    (tmp_path / "labels.csv").write_text("image_id,label\na,normal\n")
    with pytest.raises(InputError, match="no such image folder") as err:
        MaskedClassDataset(data_root=str(tmp_path))
    assert err.value.path == str(tmp_path / "images")
