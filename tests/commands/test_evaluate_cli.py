"""``cxrdet evaluate`` end to end (subprocess): hand-computed mAP on the last line, JSON, plots, COCO, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

TRAIN = """image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max
n1,No finding,14,R1,,,,
n1,No finding,14,R2,,,,
n1,No finding,14,R3,,,,
f1,Nodule/Mass,8,R1,100,100,200,200
f1,Nodule/Mass,8,R2,110,104,210,190
"""
PRED = """image_id,class_id,score,x_min,y_min,x_max,y_max
f1,8,0.9,100,100,200,200
n1,14,0.8,0,0,1,1
f1,14,0.5,0,0,1,1
"""


def cxrdet(*args):
    return subprocess.run(
        [sys.executable, "-m", "cxrdet.cli", *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def files(tmp_path):
    (tmp_path / "train.csv").write_text(TRAIN)
    (tmp_path / "pred.csv").write_text(PRED)
    return tmp_path


def test_every_reader_box_is_gt_by_default(files):
    out = cxrdet(
        "evaluate",
        "--gt",
        files / "train.csv",
        "--pred",
        files / "pred.csv",
        "--json",
        files / "m.json",
        "--plots",
        files / "plots",
    )
    assert out.returncode == 0, out.stderr
    # class 8: 1 of 2 reader boxes found -> AP 0.5; class 14: TP then FP on 3 reader boxes -> AP 1/3
    assert out.stdout.splitlines()[-1] == "mAP@0.4: 0.4167"
    row8 = next(line for line in out.stdout.splitlines() if line.lstrip().startswith("8 "))
    assert row8.split()[-3:] == ["0.5000", "2", "1"]
    doc = json.loads((files / "m.json").read_text())
    assert doc["mAP"] == pytest.approx((0.5 + 1 / 3) / 2) and doc["iou_thr"] == 0.4
    assert doc["per_class"]["14"]["ap"] == pytest.approx(1 / 3) and doc["per_class"]["0"]["ap"] is None
    assert len(list((files / "plots").glob("*.png"))) == 16


def test_wbf_fusion_iou_label_and_coco(files):
    out = cxrdet(
        "evaluate",
        "--gt",
        files / "train.csv",
        "--pred",
        files / "pred.csv",
        "--gt-fuse",
        "wbf",
        "--coco",
        "--map-iou",
        "0.5",
        "--json",
        files / "m.json",
    )
    assert out.returncode == 0, out.stderr
    # fused nodule [105,102,205,195] has IoU 0.84 with the prediction; one "No finding" box, found first
    assert out.stdout.splitlines()[-1] == "mAP@0.5: 1.0000"
    assert "COCO" in out.stdout
    assert json.loads((files / "m.json").read_text())["coco"]["mAP@0.5"] == pytest.approx(1.0)


def test_errors_are_one_line_without_traceback(files):
    (files / "bad.csv").write_text(PRED + "f1,8,0.9,300,100,200,200\n")
    out = cxrdet("evaluate", "--gt", files / "train.csv", "--pred", files / "bad.csv")
    assert out.returncode == 1
    assert "bad.csv, line 5: x_max < x_min" in out.stderr and "Traceback" not in out.stderr
    (files / "other.csv").write_text(PRED + "zz,8,0.9,100,100,200,200\n")
    out = cxrdet("evaluate", "--gt", files / "train.csv", "--pred", files / "other.csv")
    assert out.returncode == 1 and "not in the ground truth" in out.stderr
    out = cxrdet("evaluate", "--gt", files / "train.csv", "--pred", files / "other.csv", "--ignore-unknown-images")
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "mAP@0.4: 0.4167"


@pytest.mark.slow
def test_json_refuses_an_existing_file_and_never_writes_onto_an_input(files):
    (files / "m.json").write_text("{}")
    out = cxrdet("evaluate", "--gt", files / "train.csv", "--pred", files / "pred.csv", "--json", files / "m.json")
    assert out.returncode != 0 and "exists already" in out.stderr and "--overwrite" in out.stderr
    assert (files / "m.json").read_text() == "{}"
    out = cxrdet(
        "evaluate", "--gt", files / "train.csv", "--pred", files / "pred.csv", "--json", files / "m.json", "--overwrite"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads((files / "m.json").read_text())["mAP"] is not None
    for target in ("train.csv", "pred.csv"):
        before = (files / target).read_text()
        out = cxrdet(
            "evaluate",
            "--gt",
            files / "train.csv",
            "--pred",
            files / "pred.csv",
            "--json",
            files / target,
            "--overwrite",
        )
        assert out.returncode != 0 and "is one of this command's inputs" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and (files / target).read_text() == before


def test_plots_onto_a_file_is_a_clear_error(files):
    (files / "plots.png").write_bytes(b"not a folder")
    out = cxrdet("evaluate", "--gt", files / "train.csv", "--pred", files / "pred.csv", "--plots", files / "plots.png")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "is a file; --plots takes a folder" in out.stderr
    assert (files / "plots.png").read_bytes() == b"not a folder"


TWO_CLASS_LABELS = """image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max
{rows}"""


def _two_class_set(root):
    """6 synthetic DICOMs (200 x 160), labels of a 2-class data set without a "no finding" class."""
    import numpy as np

    from cxrdet.example.dicom_writer import write_dicom

    rng = np.random.default_rng(3)
    rows, truth = [], {}
    for i in range(6):
        image_id = f"scan{i}"
        write_dicom(root / "dicoms" / f"{image_id}.dcm", rng.integers(0, 4000, (200, 160)).astype(np.uint16))
        cls = i % 2
        name = ("pneumonia", "effusion")[cls]
        x, y = 20 + 10 * i, 30 + 5 * i
        truth[image_id] = (cls, x, y, x + 60, y + 50)
        for r in ("A", "B"):
            rows.append(f"{image_id},{name},{cls},{r},{x + (r == 'B')},{y},{x + 60},{y + 50}")
    (root / "labels.csv").write_text(TWO_CLASS_LABELS.format(rows="\n".join(rows) + "\n"))
    return truth


@pytest.mark.slow
def test_a_two_class_data_set_goes_through_convert_ensemble_evaluate(tmp_path):
    """Class names come from the labels (no VinDr class, no "no finding"), travel in classes.json and
    PRED.classes.json, and no command needs a --classes flag."""
    truth = _two_class_set(tmp_path)
    out = cxrdet(
        "convert",
        "--dicom-dir",
        tmp_path / "dicoms",
        "--labels",
        tmp_path / "labels.csv",
        "--out",
        tmp_path / "data",
        "--size",
        "0",
        "--folds",
        "2",
        "--workers",
        "1",
        "--no-progress",
    )
    assert out.returncode == 0, out.stderr
    classes = json.loads((tmp_path / "data" / "classes.json").read_text())
    assert classes == {"classes": ["pneumonia", "effusion"], "no_finding": None}
    coco = json.loads((tmp_path / "data" / "coco" / "all.json").read_text())
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [(1, "pneumonia"), (2, "effusion")]
    import yaml

    data_yaml = yaml.safe_load((tmp_path / "data" / "yolo" / "all" / "data.yaml").read_text())
    assert data_yaml["nc"] == 2 and data_yaml["names"] == {0: "pneumonia", 1: "effusion"}
    from cxrdet.io.metainfo import read_convert_meta

    assert read_convert_meta(tmp_path / "data").classes == ("pneumonia", "effusion")

    # two "models" (as predict writes them: a prediction file + its PRED.classes.json)
    header = "image_id,class_id,score,x_min,y_min,x_max,y_max,height,width\n"
    for name, shift, score in (("a", 0, 0.9), ("b", 2, 0.7)):
        body = "".join(
            f"{i},{c},{score},{x + shift},{y},{x2 + shift},{y2},200,160\n" for i, (c, x, y, x2, y2) in truth.items()
        )
        (tmp_path / f"{name}.csv").write_text(header + body)
        (tmp_path / f"{name}.classes.json").write_text((tmp_path / "data" / "classes.json").read_text())
    out = cxrdet("ensemble", tmp_path / "a.csv", tmp_path / "b.csv", "-o", tmp_path / "wbf.csv")
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "wbf.classes.json").read_text())["classes"] == ["pneumonia", "effusion"]
    out = cxrdet(
        "evaluate",
        "--gt",
        tmp_path / "data" / "labels_fused.csv",
        "--pred",
        tmp_path / "wbf.csv",
        "--json",
        tmp_path / "m.json",
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "m.json").read_text())
    assert {k: v["name"] for k, v in doc["per_class"].items()} == {"0": "pneumonia", "1": "effusion"}
    assert doc["mAP"] == pytest.approx(1.0)
    assert out.stdout.strip().splitlines()[-1] == "mAP@0.4: 1.0000"
    assert "pneumonia" in out.stdout and "No finding" not in out.stdout

    # a class id the data set does not have is refused with its line, by the one value check
    (tmp_path / "c.csv").write_text(header + "scan0,2,0.5,1,1,5,5,200,160\n")
    (tmp_path / "c.classes.json").write_text((tmp_path / "data" / "classes.json").read_text())
    out = cxrdet("ensemble", tmp_path / "a.csv", tmp_path / "c.csv", "-o", tmp_path / "x.csv", "--missing", "empty")
    assert out.returncode != 0 and "line 2: class_id must be an integer in 0..1" in out.stderr, out.stderr
    # files of different data sets are not mixed
    (tmp_path / "v.csv").write_text((tmp_path / "a.csv").read_text())
    (tmp_path / "v.classes.json").write_text('{"classes": ["x", "y", "z"], "no_finding": null}')
    out = cxrdet("ensemble", tmp_path / "a.csv", tmp_path / "v.csv", "-o", tmp_path / "y.csv")
    assert out.returncode != 0 and "different data sets" in out.stderr
