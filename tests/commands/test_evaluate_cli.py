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
    return subprocess.run([sys.executable, "-m", "cxrdet.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "train.csv").write_text(TRAIN)
    (tmp_path / "pred.csv").write_text(PRED)
    return tmp_path


def test_every_reader_box_is_gt_by_default(files):
    out = cxrdet("evaluate", "--gt", files / "train.csv", "--pred", files / "pred.csv", "--json", files / "m.json",
                 "--plots", files / "plots")
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
    out = cxrdet("evaluate", "--gt", files / "train.csv", "--pred", files / "pred.csv", "--gt-fuse", "wbf",
                 "--coco", "--iou", "0.5", "--json", files / "m.json")
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
