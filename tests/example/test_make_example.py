"""Tests of ``make-example``: Kaggle layout, label rules, determinism, refusals and lesions in the pixels."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from cxrdet.cli import main
from cxrdet.errors import ConfigError
from cxrdet.example import DEFAULT_CLASSES
from cxrdet.example.dicom_writer import SYNTHETIC_INSTITUTION
from cxrdet.example.make import make_example
from cxrdet.vindr import CLASS_NAMES, LABEL_COLUMNS, NO_FINDING

N_TRAIN, N_TEST = 12, 4  # as in tests/conftest.py


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _info(root: Path) -> list[dict]:
    return json.loads((root / "example_info.json").read_text())["images"]


def _display(path: Path) -> np.ndarray:
    """Modality values, inverted for MONOCHROME1 so that brighter = denser."""
    ds = pydicom.dcmread(path)
    values = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    return values.max() + values.min() - values if ds.PhotometricInterpretation == "MONOCHROME1" else values


def test_layout(example_dataset):
    root = example_dataset
    train = sorted(p.stem for p in (root / "train").iterdir())
    test = sorted(p.stem for p in (root / "test").iterdir())
    assert len(train) == N_TRAIN and len(test) == N_TEST and not set(train) & set(test)
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in train + test)
    assert all(p.suffix == ".dicom" for p in (root / "train").iterdir())
    assert {p.name for p in root.iterdir()} == {
        "train",
        "test",
        "train.csv",
        "sample_submission.csv",
        "test_labels.csv",
        "example_info.json",
    }


@pytest.mark.parametrize("name, split", [("train.csv", "train"), ("test_labels.csv", "test")])
def test_label_csv(example_dataset, name, split):
    df = pd.read_csv(example_dataset / name)
    assert tuple(df.columns) == LABEL_COLUMNS
    assert df["class_id"].dtype.kind == "i"
    assert all(df[c].dtype.kind == "f" for c in ("x_min", "y_min", "x_max", "y_max"))
    assert (df["class_name"] == df["class_id"].map(lambda c: CLASS_NAMES[c])).all()
    assert set(df["image_id"]) == {p.stem for p in (example_dataset / split).iterdir()}
    assert df["rad_id"].map(lambda r: re.fullmatch(r"R([1-9]|1[0-7])", r) is not None).all()
    assert (df.groupby("image_id")["rad_id"].nunique() == 3).all()
    normal = df[df["class_id"] == NO_FINDING]
    assert normal[["x_min", "y_min", "x_max", "y_max"]].isna().all().all()
    assert df[df["class_id"] != NO_FINDING][["x_min", "y_min", "x_max", "y_max"]].notna().all().all()
    # a reader who wrote "No finding" on an image wrote nothing else on it
    per_reader = df.groupby(["image_id", "rad_id"])["class_id"].agg(list)
    assert all(classes == [NO_FINDING] or NO_FINDING not in classes for classes in per_reader)
    assert set(df["class_id"]) <= set(DEFAULT_CLASSES) | {NO_FINDING}


def test_raw_csv_has_empty_coordinates_for_no_finding(example_dataset):
    lines = (example_dataset / "train.csv").read_text().splitlines()
    assert lines[0] == ",".join(LABEL_COLUMNS)
    normal = [line for line in lines if ",No finding,14," in line]
    assert normal and all(line.endswith(",,,,") for line in normal)


def test_normal_images_and_readers(example_dataset):
    df = pd.read_csv(example_dataset / "train.csv")
    per_image = df.groupby("image_id")["class_id"].agg(set)
    normal_images = per_image[per_image == {NO_FINDING}].index
    assert 0.2 <= len(normal_images) / N_TRAIN <= 0.4
    assert (df[df["image_id"].isin(normal_images)].groupby("image_id").size() == 3).all()
    info = {i["image_id"]: i for i in _info(example_dataset)}
    assert all(not info[i]["findings"] for i in normal_images)


@pytest.mark.parametrize("name, split", [("train.csv", "train"), ("test_labels.csv", "test")])
def test_boxes_inside_images(example_dataset, name, split):
    df = pd.read_csv(example_dataset / name).dropna()
    for image_id, boxes in df.groupby("image_id"):
        ds = pydicom.dcmread(example_dataset / split / f"{image_id}.dicom", stop_before_pixels=True)
        assert (boxes["x_min"] >= 0).all() and (boxes["y_min"] >= 0).all()
        assert (boxes["x_max"] <= ds.Columns).all() and (boxes["y_max"] <= ds.Rows).all()
        assert (boxes["x_min"] < boxes["x_max"]).all() and (boxes["y_min"] < boxes["y_max"]).all()


def test_reader_boxes_match_the_true_boxes(example_dataset):
    df = pd.read_csv(example_dataset / "train.csv").dropna()
    for image in _info(example_dataset):
        for finding in image["findings"]:
            if image["split"] != "train":
                continue
            rows = df[(df["image_id"] == image["image_id"]) & (df["class_id"] == finding["class_id"])]
            x0, y0, x1, y1 = finding["box"]
            ix = np.clip(np.minimum(rows["x_max"], x1) - np.maximum(rows["x_min"], x0), 0, None)
            iy = np.clip(np.minimum(rows["y_max"], y1) - np.maximum(rows["y_min"], y0), 0, None)
            union = (rows["x_max"] - rows["x_min"]) * (rows["y_max"] - rows["y_min"]) + (x1 - x0) * (y1 - y0) - ix * iy
            assert (ix * iy / union).max() > 0.7  # some reader's box is a jittered copy of the truth


def test_sample_submission(example_dataset):
    sub = pd.read_csv(example_dataset / "sample_submission.csv")
    assert list(sub.columns) == ["image_id", "PredictionString"]
    assert sorted(sub["image_id"]) == sorted(p.stem for p in (example_dataset / "test").iterdir())
    assert (sub["PredictionString"] == "14 1 0 0 1 1").all()


def test_dicom_variety_and_metadata(example_dataset):
    seen: dict[str, set] = {k: set() for k in ("syntax", "photometric", "bits", "window", "size", "modality")}
    for path in sorted(example_dataset.rglob("*.dicom")):
        ds = pydicom.dcmread(path)
        assert ds.pixel_array.shape == (ds.Rows, ds.Columns)
        seen["syntax"].add(ds.file_meta.TransferSyntaxUID.name)
        seen["photometric"].add(ds.PhotometricInterpretation)
        seen["bits"].add(ds.BitsStored)
        seen["window"].add(
            "lut"
            if "VOILUTSequence" in ds
            else "multi"
            if ds.get("WindowCenter") and ds["WindowCenter"].VM > 1
            else "single"
            if "WindowCenter" in ds
            else "none"
        )
        seen["size"].add((ds.Rows, ds.Columns))
        seen["modality"].add(ds.Modality)
        assert ds.InstitutionName == SYNTHETIC_INSTITUTION and str(ds.PatientName).startswith("SYNTHETIC^")
        assert ds.get("PatientSex", "") in ("M", "F", "")
        assert re.fullmatch(r"\d{3}[YM]", ds.get("PatientAge", "045Y"))
    assert len(seen["syntax"]) == 4 and seen["photometric"] == {"MONOCHROME1", "MONOCHROME2"}
    assert seen["bits"] == {12, 14, 16} and seen["window"] == {"lut", "multi", "single", "none"}
    assert any(r != c for r, c in seen["size"]) and max(max(s) for s in seen["size"]) >= 2048
    assert seen["modality"] == {"CR", "DX"}
    info = _info(example_dataset)
    assert any(i["signed"] for i in info) and any(i["rescale"] for i in info)


def test_nodules_are_bright_in_the_pixels(example_dataset):
    df = pd.read_csv(example_dataset / "train.csv")
    nodules = df[df["class_id"] == 8].drop_duplicates("image_id")
    assert len(nodules) >= 2
    for row in nodules.itertuples():
        img = _display(example_dataset / "train" / f"{row.image_id}.dicom")
        x0, y0, x1, y1 = (round(v) for v in (row.x_min, row.y_min, row.x_max, row.y_max))
        w, h = x1 - x0, y1 - y0
        inner = img[y0 + h // 4 : y1 - h // 4, x0 + w // 4 : x1 - w // 4]
        ring = np.zeros(img.shape, bool)
        ring[max(0, y0 - h // 2) : y1 + h // 2, max(0, x0 - w // 2) : x1 + w // 2] = True
        ring[y0:y1, x0:x1] = False
        spread = np.percentile(img, 99) - np.percentile(img, 1)
        assert inner.mean() - img[ring].mean() > 0.1 * spread, row.image_id


def test_every_class_has_findings_in_a_default_dataset(example_dataset):
    counts = {c: 0 for c in DEFAULT_CLASSES}
    for image in _info(example_dataset):
        for finding in image["findings"]:
            counts[finding["class_id"]] += 1
    assert all(n > 0 for n in counts.values()), counts


def test_deterministic_for_a_seed(tmp_path):
    kwargs = dict(n_train=4, n_test=2, sizes=[(160, 128), (128, 128)])
    make_example(tmp_path / "a", seed=3, **kwargs)
    make_example(tmp_path / "b", seed=3, workers=2, **kwargs)
    make_example(tmp_path / "c", seed=4, **kwargs)
    a, b, c = (_tree_hashes(tmp_path / n) for n in "abc")
    assert a == b
    assert set(a) != set(c) and not set(a.values()) & set(c.values())


def test_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    kwargs = dict(n_train=2, n_test=1, sizes=[(128, 128)])
    with pytest.raises(ConfigError, match="not empty"):
        make_example(out, **kwargs)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    make_example(out, seed=1, overwrite=True, **kwargs)
    make_example(out, seed=2, overwrite=True, **kwargs)  # stale images of seed 1 are replaced
    assert (out / "mine.txt").read_text() == "user data"
    labels = pd.read_csv(out / "train.csv")
    assert {p.stem for p in (out / "train").iterdir()} == set(labels["image_id"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        make_example(tmp_path / "file", **kwargs)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(classes=(14,)), "classes must be a non-empty subset"),
        (dict(classes=()), "classes must be a non-empty"),
        (dict(n_train=0, n_test=0), "some images, got 0, 0"),
        (dict(normal_fraction=1.5), "normal_fraction must be"),
        (dict(sizes=[(16, 16)]), "64..8192 pixels a side"),
    ],
)
def test_rejects_bad_options(tmp_path, bad, message):
    with pytest.raises(ConfigError, match=message):
        make_example(tmp_path / "x", **bad)


def test_other_classes_can_be_drawn(tmp_path):
    summary = make_example(
        tmp_path / "x", n_train=6, n_test=0, sizes=[(256, 256)], classes=(4, 7, 11), normal_fraction=0
    )
    assert set(summary.boxes_per_class) == {4, 7, 11} and sum(summary.boxes_per_class.values()) >= 6
    assert set(pd.read_csv(tmp_path / "x" / "train.csv")["class_id"]) <= {4, 7, 11, NO_FINDING}


def test_cli(tmp_path, caplog):
    out = str(tmp_path / "cli")
    args = [
        "make-example",
        "-o",
        out,
        "--n-train",
        "3",
        "--n-test",
        "2",
        "--image-sizes",
        "160x128",
        "96",
        "--workers",
        "1",
    ]
    assert main(args) == 0
    assert len(pd.read_csv(Path(out) / "sample_submission.csv")) == 2
    shapes = {pydicom.dcmread(p, stop_before_pixels=True).Rows for p in Path(out).rglob("*.dicom")}
    assert shapes <= {128, 96}
    assert main(args) == 1  # refuses the non-empty folder
    assert "not empty" in caplog.text
    assert main(args + ["--overwrite"]) == 0
