"""``cxrdet convert`` end to end through the CLI: outputs, mapping back, resume, failures, refusals, no PHI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from cxrdet.example.dicom_writer import fake_phi, write_dicom
from cxrdet.io.coco import load_coco

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out

# (image_id, shape, options): MONOCHROME1, windows, compression, 12/14/16 bit
IMAGES = [
    ("aaa1", (700, 600), dict(bits_stored=12, photometric="MONOCHROME1", window=(2000, 3000))),
    ("bbb2", (520, 800), dict(bits_stored=14, transfer_syntax="rle")),
    ("ccc3", (640, 640), dict(bits_stored=16, transfer_syntax="j2k", sex="M", age="061Y")),
    ("ddd4", (900, 500), dict(bits_stored=12, transfer_syntax="jpegls", window=(1500, 2500))),
    ("eee5", (600, 600), dict(bits_stored=12)),
    ("fff6", (600, 700), dict(bits_stored=12, photometric="MONOCHROME1")),
]
LESION = {"aaa1": (100, 150, 260, 330), "ccc3": (300, 200, 420, 300), "eee5": (50, 60, 200, 160)}


def cxrdet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cxrdet.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def vindr(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("vindr")
    rng = np.random.default_rng(0)
    rows = []
    for seed, (image_id, shape, opts) in enumerate(IMAGES):
        top = (1 << opts["bits_stored"]) - 1
        stored = rng.integers(top // 4, top // 2, size=shape).astype(np.uint16)
        if image_id in LESION:
            x1, y1, x2, y2 = LESION[image_id]
            bright = top // 8 if opts.get("photometric") == "MONOCHROME1" else top - top // 8
            stored[y1:y2, x1:x2] = bright
            for r, jitter in (("R1", 0), ("R2", 4), ("R3", -3)):
                rows.append((image_id, "Nodule/Mass", 8, r, x1 + jitter, y1, x2 + jitter, y2))
        else:
            rows += [(image_id, "No finding", 14, r, None, None, None, None) for r in ("R1", "R2", "R3")]
        write_dicom(root / "train" / f"{image_id}.dicom", stored, uid_seed=seed, **opts)
    (root / "train" / "zzz_broken.dicom").write_bytes(b"this is not a DICOM file")
    pd.DataFrame(
        rows, columns=["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"]
    ).to_csv(root / "train.csv", index=False)
    return root


@pytest.fixture(scope="module")
def converted(vindr) -> tuple[Path, subprocess.CompletedProcess]:
    out = vindr / "out"
    result = cxrdet(
        "convert",
        "--dicom-dir",
        str(vindr / "train"),
        "--labels",
        str(vindr / "train.csv"),
        "--out",
        str(out),
        "--size",
        "256",
        "--folds",
        "2",
        "--workers",
        "2",
        "--no-progress",
    )
    return out, result


def test_bad_file_is_reported_and_the_rest_converted(converted):
    out, result = converted
    assert result.returncode == 1, result.stderr
    failures = pd.read_csv(out / "failures.csv")
    assert failures["image_id"].tolist() == ["zzz_broken"]
    assert "not a DICOM file" in failures["reason"][0]
    assert sorted(p.stem for p in (out / "images").glob("*.png")) == [i for i, _, _ in IMAGES]
    assert not list(out.rglob("*.tmp*")), "no temporary file may be left behind"


def test_pngs_and_meta(converted):
    out, _ = converted
    meta = pd.read_csv(out / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    for image_id, shape, _ in IMAGES:
        png = cv2.imread(str(out / "images" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint8 and max(png.shape) == 256
        row = meta.loc[image_id]
        assert (row.original_height, row.original_width) == shape
        assert png.shape == (row.height, row.width)
    assert meta.loc["ccc3", "sex"] == "M" and meta.loc["ccc3", "age_years"] == 61


def test_lesion_lands_where_its_box_maps(converted):
    out, _ = converted
    meta = pd.read_csv(out / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    for image_id, (x1, y1, x2, y2) in LESION.items():
        png = cv2.imread(str(out / "images" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED).astype(float)
        sx, sy = meta.loc[image_id, "scale_x"], meta.loc[image_id, "scale_y"]
        inside = png[int(np.ceil(y1 * sy)) + 1 : int(y2 * sy) - 1, int(np.ceil(x1 * sx)) + 1 : int(x2 * sx) - 1]
        assert inside.mean() > png.mean() + 60, image_id  # bright lesion, also for MONOCHROME1


def test_coco_yolo_and_fused_labels_agree_and_map_back(converted):
    out, _ = converted
    fused = pd.read_csv(out / "labels_fused.csv", dtype={"image_id": str})
    assert sorted(fused["image_id"]) == sorted(LESION) and (fused["n_readers"] == 3).all()
    coco = load_coco(out / "coco" / "all.json")
    assert len(coco.getImgIds()) == len(IMAGES)  # normal images kept as negatives
    for img in coco.loadImgs(coco.getImgIds()):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        yolo = (out / "labels" / f"{img['image_id']}.txt").read_text().split()
        if img["image_id"] not in LESION:
            assert anns == [] and yolo == []
            continue
        (ann,) = anns
        x, y, w, h = ann["bbox"]
        back = np.array([x, y, x + w, y + h]) / np.array([img["scale_x"], img["scale_y"]] * 2)
        truth = fused.loc[fused.image_id == img["image_id"], ["x_min", "y_min", "x_max", "y_max"]].to_numpy()[0]
        assert np.abs(back - truth).max() <= 1.0  # round trip within 1 pixel
        assert np.abs(truth - np.array(LESION[img["image_id"]]) - [1 / 3, 0, 1 / 3, 0]).max() < 0.01
        c, cx, cy, bw, bh = map(float, yolo)
        assert c == 8
        np.testing.assert_allclose(
            [cx * img["width"], cy * img["height"], bw * img["width"], bh * img["height"]],
            [x + w / 2, y + h / 2, w, h],
            atol=0.01,
        )


def test_folds_are_one_split_for_coco_and_yolo(converted):
    out, _ = converted
    folds = pd.read_csv(out / "folds.csv", dtype={"image_id": str})
    assert sorted(folds["fold"].unique()) == [0, 1]
    for k in (0, 1):
        val_ids = set(folds.loc[folds.fold == k, "image_id"])
        coco_val = {i["image_id"] for i in json.loads((out / "coco" / f"fold{k}_val.json").read_text())["images"]}
        data = yaml.safe_load((out / "yolo" / f"fold{k}" / "data.yaml").read_text())
        yolo_val = {Path(p).stem for p in Path(data["val"]).read_text().split()}
        yolo_train = {Path(p).stem for p in Path(data["train"]).read_text().split()}
        assert coco_val == yolo_val == val_ids and not (yolo_train & val_ids)
        assert all(Path(p).is_absolute() and Path(p).exists() for p in Path(data["val"]).read_text().split())


def test_no_identifying_field_in_any_output(converted):
    out, result = converted
    secrets = [v.encode() for seed in range(len(IMAGES)) for v in fake_phi(seed).values() if len(v) > 3]
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), path
    assert not any(s.decode() in result.stdout + result.stderr for s in secrets)


def test_resume_skips_finished_images(vindr, converted):
    out, _ = converted
    before = {p: p.stat().st_mtime_ns for p in (out / "images").glob("*.png")}
    again = cxrdet(
        "convert",
        "--dicom-dir",
        str(vindr / "train"),
        "--labels",
        str(vindr / "train.csv"),
        "--out",
        str(out),
        "--size",
        "256",
        "--folds",
        "2",
        "--workers",
        "1",
        "--no-progress",
    )
    assert again.returncode == 1
    assert "already done    6" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "images").glob("*.png")} == before


def test_refuses_other_settings_or_a_foreign_folder(vindr, converted, tmp_path):
    out, _ = converted
    other = cxrdet("convert", "--dicom-dir", str(vindr / "train"), "--out", str(out), "--size", "512")
    assert other.returncode == 1 and "size=256" in other.stderr
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    refused = cxrdet("convert", "--dicom-dir", str(vindr / "train"), "--out", str(foreign))
    assert refused.returncode == 1 and "not empty" in refused.stderr
    assert (foreign / "notes.txt").read_text() == "precious"


def test_test_images_without_labels(vindr, tmp_path):
    result = cxrdet(
        "convert",
        "--dicom-dir",
        str(vindr / "train"),
        "--out",
        str(tmp_path / "t"),
        "--size",
        "0",
        "--bit-depth",
        "16",
        "--workers",
        "1",
        "--no-progress",
    )
    assert result.returncode == 1  # the broken file
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        ".cxrdet-convert",
        "convert.json",
        "failures.csv",
        "images",
        "ledger.jsonl",
        "meta.csv",
    ]
    png = cv2.imread(str(tmp_path / "t" / "images" / "aaa1.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (700, 600)
