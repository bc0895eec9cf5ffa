"""``cxrdet make-example --task bone-age|fracture``: each task through the real console entry point in a subprocess
(network cut), with its layout, size and count options; the refusals (a non-empty folder without --overwrite,
another task's options) and --overwrite through the same CLI, in this process (the parser and run are the same)."""

from __future__ import annotations

import cv2
import pandas as pd
from offline_cli import run_offline

from cxrdet.cli import main


def test_bone_age_task(tmp_path, caplog):
    out = tmp_path / "hands"
    done = run_offline(tmp_path, "make-example", "--task", "bone-age", "-o", out, "--n", "5", "--size", "64")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "boneage-training-dataset.csv")
    assert list(table.columns) == ["id", "boneage", "male"] and len(table) == 5
    images = sorted((out / "boneage-training-dataset").iterdir())
    assert [p.name for p in images] == [f"{i}.png" for i in sorted(table["id"])]
    assert cv2.imread(str(images[0]), cv2.IMREAD_UNCHANGED).shape == (64, 64)
    assert "5 hands" in done.stderr

    args = ["make-example", "--task", "bone-age", "-o", str(out), "--n", "3", "--size", "64"]
    assert main(args) == 1 and "not empty" in caplog.text and "--overwrite" in caplog.text
    assert len(list((out / "boneage-training-dataset").iterdir())) == 5  # untouched
    (out / "notes.txt").write_text("mine")
    assert main([*args, "--overwrite"]) == 0
    assert len(list((out / "boneage-training-dataset").iterdir())) == 3  # the old images were replaced
    assert (out / "notes.txt").read_text() == "mine"


def test_fracture_task_and_refusals(tmp_path, caplog):
    out = tmp_path / "ct"
    done = run_offline(tmp_path, "make-example", "--task", "fracture", "-o", out, "--n", "3", "--seed", "2")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["fractured", "normal", "patients.csv"]
    for name in ("normal", "fractured"):
        files = list((out / name).glob("*.png"))
        assert len(files) == 3
        assert cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED).shape == (128, 128)  # the default size
    patients = pd.read_csv(out / "patients.csv")
    assert list(patients.columns) == ["image_id", "patient_id"] and len(patients) == 6
    assert "normal/: 3 images" in done.stderr

    refused = run_offline(tmp_path, "make-example", "--task", "fracture", "-o", out, "--n", "3")
    assert refused.returncode == 1 and "not empty" in refused.stderr
    assert main(["make-example", "--task", "fracture", "-o", str(tmp_path / "x"), "--n-train", "5"]) == 1
    assert "--n-train apply to --task vindr only" in caplog.text and not (tmp_path / "x").exists()
    assert main(["make-example", "-o", str(tmp_path / "y"), "--size", "64"]) == 1
    assert (
        "--size apply to --task bone-age, fracture, gastric and imbalanced" in caplog.text
        and not (tmp_path / "y").exists()
    )


def test_gastric_task(tmp_path):
    out = tmp_path / "gastric"
    done = run_offline(tmp_path, "make-example", "--task", "gastric", "-o", out, "--n", "6", "--size", "48")
    assert done.returncode == 0, done.stderr
    labels = pd.read_csv(out / "labels.csv")
    assert list(labels.columns[:2]) == ["image_id", "label"] and len(labels) == 6
    assert sorted(labels["label"].value_counts().items()) == [("egc", 3), ("normal", 3)]
    for image_id, label in zip(labels["image_id"], labels["label"]):
        image = cv2.imread(str(out / "images" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / "masks" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED)
        assert image.shape == (48, 48, 3) and mask.shape == (48, 48)
        assert set(mask.ravel().tolist()) <= {0, 1} and (mask.any() == (label == "egc"))
    assert "6 views (3 EGC, 3 normal)" in done.stderr


def test_imbalanced_task(tmp_path):
    out = tmp_path / "imbalanced"
    done = run_offline(tmp_path, "make-example", "--task", "imbalanced", "-o", out, "--n", "20", "--size", "32")
    assert done.returncode == 0, done.stderr
    train, test = pd.read_csv(out / "train.csv"), pd.read_csv(out / "test.csv")
    counts = train["label"].value_counts()
    assert len(counts) == 6 and sorted(counts.tolist()) == [2, 2, 2, 20, 20, 20]  # 10:1
    assert test["label"].nunique() == 6 and test["label"].value_counts().nunique() == 1  # balanced
    image = cv2.imread(str(out / train["Path"].iloc[0]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (32, 32)
    assert "minority:" in done.stderr
