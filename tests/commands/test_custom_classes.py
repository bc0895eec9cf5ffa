"""A data set with its own classes (2, no "no finding") through convert -> train -> predict -> ensemble -> evaluate.

The class list travels from the labels to ``classes.json``, data.yaml, the model, the checkpoint's ``cxrdet``
record and every prediction file's ``PRED.classes.json``; no command is told the classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from offline_cli import run_offline as cxrdet

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out

CONFIG = Path(__file__).parents[2] / "configs" / "yolo" / "yolov5n_192-e20_example.py"
CLASSES = ["nodule", "cyst"]


def _write_set(root: Path) -> None:
    """12 synthetic DICOMs (192 x 160): bright squares are class 0 "nodule", dark ones class 1 "cyst"."""
    from cxrdet.example.dicom_writer import write_dicom

    rng = np.random.default_rng(7)
    rows = []
    for i in range(12):
        pixels = rng.normal(2000, 150, (192, 160)).clip(0, 4095)
        image_id = f"img{i:02d}"
        for k in range(1 + i % 2):  # one or two squares per image
            cls = (i + k) % 2
            size = 30 + 4 * (i % 3)
            x, y = 15 + 70 * k + 3 * (i % 4), 25 + 9 * (i % 5) + 60 * k
            pixels[y : y + size, x : x + size] = 3800 if cls == 0 else 300
            for reader in ("R1", "R2"):
                d = int(reader == "R2")
                rows.append((image_id, CLASSES[cls], cls, reader, x + d, y, x + size, y + size - d))
        write_dicom(root / "dicoms" / f"{image_id}.dcm", pixels.astype(np.uint16), uid_seed=i)
    pd.DataFrame(
        rows, columns=["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"]
    ).to_csv(root / "labels.csv", index=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """convert (in-process) and train fold 0 for one epoch at 64 px (an offline subprocess, as users run it)."""
    from cxrdet.cli import main

    root = tmp_path_factory.mktemp("custom_classes")
    (root / "home").mkdir()
    _write_set(root)
    assert (
        main(
            [
                "convert",
                "--dicom-dir",
                str(root / "dicoms"),
                "--labels",
                str(root / "labels.csv"),
                "--out",
                str(root / "data"),
                "--size",
                "96",
                "--folds",
                "2",
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    out = cxrdet(
        root / "home",
        "train",
        CONFIG,
        "--fold",
        "0",
        "--data-root",
        root / "data",
        "--out",
        root / "run",
        "--cfg-options",
        "ultralytics.epochs=1",
        "ultralytics.imgsz=64",
        "ultralytics.batch=4",
        "ultralytics.nbs=4",
        "ultralytics.workers=0",
        "predict.tta=false",
        "predict.conf=0",
        "predict.max_det=5",
        "predict.workers=0",
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return root


def test_two_classes_go_through_train_predict_ensemble_evaluate(run, capsys):
    import torch
    import yaml

    from cxrdet.cli import main
    from cxrdet.io.predictions import read_table

    assert json.loads((run / "data" / "classes.json").read_text()) == {"classes": CLASSES, "no_finding": None}
    data_yaml = yaml.safe_load((run / "data" / "yolo" / "fold0" / "data.yaml").read_text())
    assert data_yaml["nc"] == 2 and data_yaml["names"] == {0: "nodule", 1: "cyst"}
    best = run / "run" / "fold0" / "weights" / "best.pt"
    ckpt = torch.load(best, weights_only=False)
    assert ckpt["cxrdet"]["dataset"] == {"classes": CLASSES, "no_finding": None}  # predict needs no data folder
    assert ckpt["model"].nc == 2 and dict(ckpt["model"].names) == {0: "nodule", 1: "cyst"}
    oof = run / "run" / "oof_fold0.csv"
    assert json.loads((run / "run" / "oof_fold0.classes.json").read_text())["classes"] == CLASSES
    assert set(read_table(oof).boxes["class_id"]) <= {0, 1}

    pred = run / "pred.csv"
    out = cxrdet(
        run / "home",
        "predict",
        best,
        "--source",
        run / "dicoms",
        "--conf",
        "0",
        "--max-det",
        "5",
        "--workers",
        "0",
        "-o",
        pred,
        "--no-progress",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    table = read_table(pred)
    assert len(table.image_ids) == 12 and len(table) == 12 * 5
    assert set(table.boxes["class_id"]) <= {0, 1}
    assert json.loads((run / "pred.classes.json").read_text()) == {"classes": CLASSES, "no_finding": None}

    wbf = run / "wbf.csv"
    assert main(["ensemble", str(pred), str(oof), "--missing", "empty", "-o", str(wbf)]) == 0
    assert json.loads((run / "wbf.classes.json").read_text())["classes"] == CLASSES
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "--gt",
                str(run / "data" / "labels_fused.csv"),
                "--pred",
                str(wbf),
                "--json",
                str(run / "m.json"),
            ]
        )
        == 0
    )
    stdout = capsys.readouterr().out
    doc = json.loads((run / "m.json").read_text())
    assert {k: v["name"] for k, v in doc["per_class"].items()} == {"0": "nodule", "1": "cyst"}
    table_rows = [line.split()[0] for line in stdout.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert table_rows == ["0", "1"], stdout  # the per-class table lists exactly the 2 classes
    assert "nodule" in stdout and "cyst" in stdout and "No finding" not in stdout
    assert stdout.strip().splitlines()[-1].startswith("mAP@0.4: ")


def test_no_finding_is_refused_for_a_set_without_one(run, caplog):
    from cxrdet.cli import main

    best = run / "run" / "fold0" / "weights" / "best.pt"
    out = run / "nf.csv"
    assert main(["predict", str(best), "--source", str(run / "dicoms"), "--no-finding", "-o", str(out)]) == 1
    assert "--no-finding" in caplog.text and "without a 'no finding' class" in caplog.text
    assert not out.exists()


def test_train_refuses_predict_no_finding_before_training(run, caplog):
    from cxrdet.cli import main

    work = run / "never"
    assert (
        main(
            [
                "train",
                str(CONFIG),
                "--fold",
                "0",
                "--data-root",
                str(run / "data"),
                "--out",
                str(work),
                "--cfg-options",
                "predict.no_finding=true",
            ]
        )
        == 1
    )
    assert "has no 'no finding' class" in caplog.text and not work.exists()


def test_checkpoint_classes_and_the_class_check():
    from cxrdet.engines.yolo.checkpoints import detector_names, record_meta
    from cxrdet.engines.yolo.predict import _check_classes
    from cxrdet.errors import ConfigError
    from cxrdet.structures import VINDR, DatasetMeta

    meta = DatasetMeta(tuple(CLASSES))
    assert detector_names(meta) == {0: "nodule", 1: "cyst"}
    assert detector_names(VINDR) == {i: VINDR.classes[i] for i in range(14)}
    assert record_meta({"dataset": meta.to_dict()}) == meta and record_meta({}) is VINDR
    with pytest.raises(ConfigError, match="damaged class list"):
        record_meta({"dataset": {"classes": []}})
    _check_classes(Path("w.pt"), {0: "nodule", 1: "cyst"}, meta)
    with pytest.raises(ConfigError, match="3-class model"):
        _check_classes(Path("w.pt"), {0: "a", 1: "b", 2: "c"}, meta)
    with pytest.raises(ConfigError, match="VinDr detector"):
        _check_classes(Path("w.pt"), {i: str(i) for i in range(15)})


def test_two_classes_train_and_predict_with_an_mmdet_config(run, tmp_path):
    """The mmdet engine takes the class list of the convert folder too: every head gets 2 outputs (the config says
    14), the checkpoint records the classes, and predict writes class ids 0-1 with their companion."""
    import torch

    from cxrdet.cli import main
    from cxrdet.io.predictions import read_table

    config = Path(__file__).parents[1] / "engines" / "mmdet_tiny_retinanet.py"
    options = ["train_cfg.max_epochs=1", "train_cfg.val_interval=1", "model.test_cfg.score_thr=0.0"]
    argv = ["train", str(config), "--fold", "0", "--data-root", str(run / "data"), "-o", str(tmp_path / "mm")]
    assert main([*argv, "--cfg-options", *options]) == 0
    (best,) = (tmp_path / "mm" / "fold0").glob("best_vindr_mAP_epoch_1.pth")
    weights = torch.load(best.with_name(best.stem + "_weights.pth"), weights_only=True)
    assert weights["state_dict"]["bbox_head.retina_cls.weight"].shape[0] == 9 * 2  # 9 anchors x 2 classes
    assert weights["meta"]["cxrdet"]["dataset"] == {"classes": CLASSES, "no_finding": None}
    pred = tmp_path / "mm_pred.csv"
    argv = ["predict", str(config), str(best), "--source", str(run / "dicoms"), "--conf", "0", "-o", str(pred)]
    assert main([*argv, "--no-progress"]) == 0
    table = read_table(pred)
    assert len(table.image_ids) == 12 and len(table) > 0 and set(table.boxes["class_id"]) <= {0, 1}
    assert json.loads((tmp_path / "mm_pred.classes.json").read_text()) == {"classes": CLASSES, "no_finding": None}
