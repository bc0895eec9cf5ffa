"""``cxrdet train`` / ``cxrdet predict`` end to end, as subprocesses with the network cut and a fresh HOME."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from offline_cli import run_offline as cxrdet

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out

CONFIG = Path(__file__).parents[2] / "configs" / "yolo" / "yolov5n_192-e20_example.py"


@pytest.fixture(scope="module")
def workspace(example_dataset, tmp_path_factory) -> Path:
    """A fresh HOME and the session example converted at 128 px with 2 folds."""
    from cxrdet.preprocess.convert import ConvertOptions, convert

    root = tmp_path_factory.mktemp("train_predict")
    (root / "home").mkdir()
    convert(
        ConvertOptions(
            dicom_dir=example_dataset / "train",
            labels=example_dataset / "train.csv",
            out=root / "data",
            size=128,
            folds=2,
            progress=False,
        )
    )
    return root


@pytest.fixture(scope="module")
def trained(workspace) -> tuple[Path, subprocess.CompletedProcess]:
    """Fold 0 trained for 2 epochs at 64 px (seconds on a CPU), with its OOF predictions."""
    work = workspace / "run"
    result = cxrdet(
        workspace / "home",
        "train",
        CONFIG,
        "--fold",
        "0",
        "--data-root",
        workspace / "data",
        "--out",
        work,
        "--cfg-options",
        "ultralytics.epochs=2",
        "ultralytics.imgsz=64",
        "ultralytics.batch=4",
        "ultralytics.nbs=4",
        "predict.tta=false",
        "predict.conf=0",
        "predict.max_det=5",
    )  # conf 0: the barely trained model still gives boxes to check
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return work, result


@pytest.mark.slow
def test_train_writes_run_folder_offline(trained, workspace):
    work, result = trained
    config = workspace / "home" / ".config"
    # Ultralytics' settings went to the run folder; matplotlib (imported by Ultralytics) keeps its font cache
    assert not config.exists() or {p.name for p in config.iterdir()} <= {"matplotlib"}
    assert list((work / "ultralytics_settings").rglob("settings.json"))
    assert "AssertionError: network" not in result.stderr
    fold = work / "fold0"
    assert (fold / "weights" / "best.pt").is_file() and (fold / "args.yaml").is_file()
    results = pd.read_csv(fold / "results.csv")
    assert len(results) == 2 and "metrics/vindr_mAP40(B)" in [c.strip() for c in results.columns]
    resolved = (work / "config.py").read_text()
    assert "epochs=2" in resolved and str(workspace / "data") in resolved  # defaults < file < options, saved
    import yaml

    args = yaml.safe_load((fold / "args.yaml").read_text())
    assert args["model"] == "yolov5nu.yaml" and args["pretrained"] is False and args["imgsz"] == 64
    assert args["data"] == str(workspace / "data" / "yolo" / "fold0" / "data.yaml")
    import torch

    record = torch.load(fold / "weights" / "best.pt", weights_only=False)["cxrdet"]
    assert record["png_size"] == 128 and record["imgsz"] == 64 and record["bit_depth"] == 8
    assert "VinDr mAP@0.4" in result.stdout and "oof_fold0.csv" in result.stdout


@pytest.mark.slow
def test_oof_predictions_cover_exactly_the_fold_validation_images(trained, workspace):
    from cxrdet.io.predictions import read_table

    work, _ = trained
    oof = read_table(work / "oof_fold0.csv")
    folds = pd.read_csv(workspace / "data" / "folds.csv", dtype={"image_id": str})
    assert sorted(oof.image_ids) == sorted(folds.loc[folds["fold"] == 0, "image_id"])
    meta = pd.read_csv(workspace / "data" / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    assert (oof.images["width"] == meta.loc[oof.image_ids, "original_width"]).all()
    assert len(oof) == 5 * len(oof.image_ids)  # predict.max_det=5 from --cfg-options reached the OOF pass
    b = oof.boxes.merge(oof.images, left_on="image_id", right_index=True)
    assert (b["x_max"] <= b["width"]).all() and (b["y_max"] <= b["height"]).all() and (b["x_min"] >= 0).all()


@pytest.mark.slow
def test_predict_dicoms_with_tta_writes_original_pixels(trained, workspace, example_dataset):
    from cxrdet.io.predictions import read_table

    work, _ = trained
    out = workspace / "test_pred.csv"
    result = cxrdet(
        workspace / "home",
        "predict",
        work / "fold0" / "weights" / "best.pt",
        "--source",
        example_dataset / "test",
        "--tta",
        "--conf",
        "0",
        "--max-det",
        "30",
        "--no-finding",
        "-o",
        out,
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hflip TTA + WBF" in result.stdout and "imgsz 64" in result.stdout
    table = read_table(out)
    info = json.loads((example_dataset / "example_info.json").read_text())
    sizes = {i["image_id"]: (i["rows"], i["cols"]) for i in info["images"] if i["split"] == "test"}
    assert sorted(table.image_ids) == sorted(sizes)  # every test image listed
    for image_id, (rows, cols) in sizes.items():
        assert tuple(table.images.loc[image_id]) == (rows, cols)
        boxes = table.boxes[table.boxes["image_id"] == image_id]
        assert (boxes["x_max"] <= cols + 1e-6).all() and (boxes["y_max"] <= rows + 1e-6).all()
        assert (boxes["class_id"] == 14).sum() == 1  # --no-finding: one "No finding" box per image
    again = cxrdet(
        workspace / "home",
        "predict",
        work / "fold0" / "weights" / "best.pt",
        "--source",
        example_dataset / "test",
        "-o",
        out,
    )
    assert again.returncode == 1 and "exists already" in again.stderr
    score = cxrdet(workspace / "home", "evaluate", "--gt", example_dataset / "test_labels.csv", "--pred", out)
    assert score.returncode == 0 and score.stdout.strip().splitlines()[-1].startswith("mAP@0.4: ")


@pytest.mark.slow
def test_predict_on_converted_pngs_needs_no_png_size(trained, workspace):
    from cxrdet.io.predictions import read_table

    work, _ = trained
    out = workspace / "val.parquet"
    result = cxrdet(
        workspace / "home",
        "predict",
        work / "fold0" / "weights" / "best.pt",
        "--source",
        workspace / "data" / "yolo" / "fold1" / "val.txt",
        "--workers",
        "0",
        "-o",
        out,
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PNG" in result.stdout
    folds = pd.read_csv(workspace / "data" / "folds.csv", dtype={"image_id": str})
    assert sorted(read_table(out).image_ids) == sorted(folds.loc[folds["fold"] == 1, "image_id"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cfg-options", "ultralytics.epoch=1"], "did you mean 'ultralytics.epochs'"),
        (["--cfg-options", "lr0=0.1"], "did you mean 'ultralytics.lr0'"),
        (["--fold", "0", "--all-folds"], "not both"),
        (["--fold", "5"], "no split 'fold5'"),
        (["--data-root", "/nonexistent"], "not a cxrdet convert output"),
        (["--load-from", "/nonexistent/yolov5s.pt"], "never downloads"),
        (["--fold", "1", "--resume"], "no "),
        (["--fold", "1", "--resume", "auto"], "last.pt to resume from"),
        (["--fold", "0", "--resume", "/nonexistent/last.pt"], "no /nonexistent/last.pt to resume from"),
        (["--all-folds", "--resume", "/nonexistent/last.pt"], "continues one split"),
        (["--cfg-options", "resume=/nonexistent/last.pt", "--fold", "0"], "no /nonexistent/last.pt"),
        (["--cfg-options", "engine=detectron2"], "no such engine"),
    ],
)
def test_train_rejects_bad_options_before_training(workspace, args, message, caplog):
    from cxrdet.cli import main

    work = workspace / "never"
    assert main(["train", str(CONFIG), "--data-root", str(workspace / "data"), "--out", str(work), *args]) == 1
    assert message in caplog.text
    assert not work.exists()  # checked before anything is trained or written


def test_predict_without_png_size_on_foreign_weights_is_explained(workspace, example_dataset, tmp_path):
    import torch

    from cxrdet.engines.yolo.checkpoints import untrained_checkpoint
    from cxrdet.engines.yolo.config import resolve_config

    weights = untrained_checkpoint(resolve_config(CONFIG), tmp_path / "w.pt", png_size=128)
    ckpt = torch.load(weights, weights_only=False)
    del ckpt["cxrdet"]  # as if trained by plain Ultralytics
    torch.save(ckpt, weights)
    result = cxrdet(
        workspace / "home", "predict", weights, "--source", example_dataset / "test", "-o", tmp_path / "p.csv"
    )
    assert result.returncode == 1 and "--png-size" in result.stderr
    ok = cxrdet(
        workspace / "home",
        "predict",
        weights,
        "--source",
        example_dataset / "test",
        "--png-size",
        "128",
        "-o",
        tmp_path / "p.csv",
        "--no-progress",
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert np.isclose(len(pd.read_csv(tmp_path / "p.csv")["image_id"].unique()), 4)


@pytest.mark.slow
def test_test_command_scores_the_checkpoint_on_its_fold(trained, workspace):
    """``cxrdet test CONFIG CHECKPOINT``: the split recorded in the checkpoint, VinDr mAP per class."""
    work, _ = trained
    best = work / "fold0" / "weights" / "best.pt"
    result = cxrdet(
        workspace / "home",
        "test",
        CONFIG,
        best,
        "--data-root",
        workspace / "data",
        "--cfg-options",
        "predict.tta=false",
        "predict.conf=0",
        "predict.max_det=5",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("mAP@0.4: ") and 0.0 <= float(last.split()[-1]) <= 1.0
    assert "class" in result.stdout and "#GT" in result.stdout
    from cxrdet.engines.base import engine_of_config
    from cxrdet.evaluation.voc import vindr_map
    from cxrdet.io.predictions import read_table

    # the same number as scoring the OOF file (same model, same fold-0 images, same predict options)
    engine = engine_of_config(CONFIG, {"data_root": str(workspace / "data")})
    from cxrdet.engines.yolo.validation import VindrValidation

    gt = VindrValidation.from_convert(workspace / "data", workspace / "data" / "yolo" / "fold0" / "val.txt").gt
    expected = vindr_map(gt, read_table(work / "oof_fold0.csv")).map
    assert float(last.split()[-1]) == pytest.approx(expected, abs=1e-4)
    assert engine.name == "ultralytics"


@pytest.mark.slow
def test_predict_with_config_and_checkpoint_equals_checkpoint_alone(trained, workspace, example_dataset):
    work, _ = trained
    best = work / "fold0" / "weights" / "best.pt"
    alone, with_config = workspace / "alone.csv", workspace / "with_config.csv"
    stdout = {}
    for out, model in ((alone, [best]), (with_config, [CONFIG, best])):
        result = cxrdet(
            workspace / "home",
            "predict",
            *model,
            "--source",
            example_dataset / "test",
            "--conf",
            "0",
            "--max-det",
            "7",
            "-o",
            out,
            "--no-progress",
        )
        assert result.returncode == 0, result.stderr[-3000:]
        stdout[out] = result.stdout
    assert "hflip TTA" in stdout[with_config] and "hflip TTA" not in stdout[alone]  # the config's predict section
    # the example config's predict.tta=True applies with the config; the checkpoint alone has no TTA
    assert len(pd.read_csv(alone)) == 4 * 7
    assert sorted(pd.read_csv(with_config)["image_id"].unique()) == sorted(pd.read_csv(alone)["image_id"].unique())


def test_packaged_config_paths_resolve_from_anywhere(workspace, caplog):
    from cxrdet.cli import main

    work = workspace / "never_packaged"
    # a path that does not exist here is looked up among the shipped configs; the data check fails after it
    assert main(["train", "yolo/yolov5n_192-e20_example.py", "--data-root", "/nonexistent", "--out", str(work)]) == 1
    assert "not a cxrdet convert output" in caplog.text and not work.exists()
    caplog.clear()
    assert main(["train", "yolo/nope.py", "--out", str(work)]) == 1
    assert "config file not found" in caplog.text
