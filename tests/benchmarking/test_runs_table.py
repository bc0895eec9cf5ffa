"""``cxrdet benchmark --runs``: finished work dirs as one sortable table (markdown, CSV, JSON, bar chart).

Two work dirs: a real Runner run (the fracture CNN trained on one fold by the session fixture: its scalars,
checkpoints and OOF file are what mmengine and cxrdet wrote) and a YOLO work dir laid out as ``cxrdet train``
writes one (Ultralytics' ``results.csv`` header, ``args.yaml``, the resolved ``config.py``), whose OOF file is
built from the ground truth so that its VinDr mAP is known: 1 when every box is predicted, ``(n - 1) / n``
with one of the ``n`` classes left out. The Runner row must agree with what the Runner itself reported (the
best score, its epoch, the run's time) and its OOF accuracy with the validation accuracy of the best epoch
(the same images through another path).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from cxrdet.benchmarking.runs_report import COLUMNS, sort_runs
from cxrdet.benchmarking.runs_table import read_run, read_submission_scores
from cxrdet.errors import InputError

pytestmark = pytest.mark.slow  # real runs: configs in their own processes, a Runner training

YOLO = Path(__file__).parents[2] / "configs" / "yolo" / "yolov5n_192-e20_example.py"
RESULTS_HEADER = (  # Ultralytics 8.4 results.csv of a cxrdet run (cxrdet's validator adds the VinDr column)
    "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
    "metrics/mAP50(B),metrics/mAP50-95(B),metrics/vindr_mAP40(B),val/box_loss,val/cls_loss,val/dfl_loss,"
    "lr/pg0,lr/pg1,lr/pg2"
)


def _main(argv) -> int:
    from cxrdet.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        return main([str(a) for a in argv])


def _oof(data_root: Path, out: Path, drop_class: int | None = None) -> None:
    """Every fused ground-truth box of the data set as a prediction (score 0.9), optionally one class left out."""
    from cxrdet.io.metainfo import read_convert_meta, write_companion
    from cxrdet.io.predictions import write_predictions
    from cxrdet.structures import BoxTable

    meta = pd.read_csv(data_root / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    boxes = pd.read_csv(data_root / "labels_fused.csv", dtype={"image_id": str}).assign(score=0.9)
    if drop_class is not None:
        boxes = boxes[boxes["class_id"] != drop_class]
    images = pd.DataFrame(
        {"height": meta["original_height"].astype(float), "width": meta["original_width"].astype(float)}
    )
    write_predictions(BoxTable(boxes, images, str(out)), out)
    write_companion(out, read_convert_meta(data_root))


@pytest.fixture(scope="module")
def yolo_run(converted_example, tmp_path_factory) -> Path:
    """A YOLO work dir as ``cxrdet train --fold 0`` leaves it (3 epochs), with a recorded submission score."""
    from cxrdet.config import dump_config
    from cxrdet.engines.yolo.config import resolve_config

    work = tmp_path_factory.mktemp("yolo_runs") / "yolov5n_192-e20_example"
    cfg = resolve_config(YOLO, {"data_root": str(converted_example), "work_dir": str(work)})
    work.mkdir()
    dump_config(cfg, work / "config.py")
    fold = work / "fold0"
    (fold / "weights").mkdir(parents=True)
    (fold / "weights" / "best.pt").write_bytes(b"")
    (fold / "args.yaml").write_text("task: detect\nmode: train\nmodel: yolov5nu.yaml\nepochs: 3\nimgsz: 192\n")
    rows = [  # epoch, cumulative seconds, ..., VinDr mAP: the best (0.41) at epoch 2
        "1,3.79,4.87,6.80,3.62,0,0,0,0,0.12,5.40,5.73,4.10,0.017,0.017,0.031",
        "2,7.69,5.27,5.24,3.95,0.1,0.2,0.3,0.1,0.41,5.30,5.54,4.01,0.019,0.019,0.019",
        "3,11.25,4.90,4.80,3.70,0.1,0.2,0.3,0.1,0.35,5.20,5.44,3.99,0.010,0.010,0.010",
    ]
    (fold / "results.csv").write_text("\n".join([RESULTS_HEADER, *rows]) + "\n")
    _oof(converted_example, work / "oof.csv")
    (work / "submission_score.txt").write_text("# Kaggle, after the deadline\npublic 0.137\nprivate: 0.121\n")
    return work


def test_a_yolo_work_dir(yolo_run, converted_example, tmp_path):
    row = read_run(yolo_run)
    assert row["config"] == "yolov5n_192-e20_example" and row["engine"] == "ultralytics"
    assert (row["model"], row["input_size"], row["splits"], row["epochs"]) == ("yolov5n", 192, "fold0", 3)
    assert row["best_value"] == pytest.approx(0.41) and row["best_epoch"] == "2"
    assert row["train_time_s"] == pytest.approx(11.25)  # Ultralytics' cumulative time of the last epoch
    assert row["conf_thr"] == 0.001  # the config's predict.conf (configs/yolo/_base_)
    assert row["oof_metric"] == "VinDr mAP@0.4" and row["oof_value"] == pytest.approx(1.0)  # every box predicted
    assert row["submission"] == 0.137 and row["submission_scores"] == {"public": 0.137, "private": 0.121}
    # one of the n classes with ground truth left out of the OOF file: its AP is 0, the others' 1
    classes = pd.read_csv(converted_example / "labels_fused.csv")["class_id"].unique()
    _oof(converted_example, yolo_run / "oof.csv", drop_class=int(classes[0]))
    try:
        assert read_run(yolo_run)["oof_value"] == pytest.approx((len(classes) - 1) / len(classes))
    finally:
        _oof(converted_example, yolo_run / "oof.csv")


def test_a_real_runner_work_dir_agrees_with_what_the_runner_reported(fracture_run):
    work, _, result = fracture_run
    row = read_run(work)
    assert (row["config"], row["engine"], row["splits"], row["epochs"]) == ("fracture_example", "mmengine", "fold0", 2)
    assert row["model"] == "ImageClassifier VGG" and row["input_size"] == 64  # the config's 64 px centre crop
    assert row["best_metric"] == result.metric == "cls/accuracy"
    assert row["best_value"] == pytest.approx(result.score)  # mmengine's best_score (its message hub)
    assert f"best_cls_accuracy_epoch_{row['best_epoch']}.pth" == result.best.name
    assert 0 < row["train_time_s"] <= result.seconds + 1.5  # the run folder's stamp has a 1 s resolution
    assert row["conf_thr"] is None
    # the OOF file: fold 0's validation images predicted by the best checkpoint, so its accuracy is the
    # validation accuracy of the best epoch
    assert row["oof_metric"] == "accuracy" and row["oof_value"] == pytest.approx(result.score)
    assert row["submission"] is None


def test_submission_scores_file(tmp_path):
    path = tmp_path / "submission_score.txt"
    assert read_submission_scores(path) == {}
    path.write_text("0.254\n")
    assert read_submission_scores(path) == {"score": 0.254}
    path.write_text("public=0.30 # the leaderboard\nprivate 0.29\n\n")
    assert read_submission_scores(path) == {"public": 0.30, "private": 0.29}
    path.write_text("public 0.3\nwhat a great run\n")
    with pytest.raises(InputError, match=r"submission_score.txt.*line 2: 'what a great run'"):
        read_submission_scores(path)


def test_sorting():
    rows = [
        {"config": "a", "epochs": 3, "submission": None, "oof_value": 0.2, "best_value": 0.9},
        {"config": "b", "epochs": 10, "submission": 0.3, "oof_value": 0.1, "best_value": 0.1},
        {"config": "c", "epochs": None, "submission": None, "oof_value": None, "best_value": None},
    ]
    # default: the submission's score, else the OOF score, else the best validation value; unknown last
    assert [r["config"] for r in sort_runs(rows)] == ["b", "a", "c"]
    assert [r["config"] for r in sort_runs(rows, "epochs")] == ["b", "a", "c"]
    assert [r["config"] for r in sort_runs(rows, "epochs", ascending=True)] == ["a", "b", "c"]
    assert [r["config"] for r in sort_runs(rows, "config")] == ["a", "b", "c"]
    with pytest.raises(Exception, match="--sort 'loss': expected one of score, config"):
        sort_runs(rows, "loss")


def test_the_command_writes_a_sorted_table_and_guards_its_output(yolo_run, fracture_run, tmp_path, caplog):
    work, _, result = fracture_run
    out = tmp_path / "runs"
    assert _main(["benchmark", "--runs", yolo_run, work, "-o", out, "--sort", "epochs"]) == 0
    table = pd.read_csv(out / "runs.csv")
    assert list(table.columns) == [*COLUMNS[:-1], "submission_scores", "run"]
    assert list(table["config"]) == ["yolov5n_192-e20_example", "fracture_example"]  # 3 epochs, then 2
    assert json.loads(table["submission_scores"][0]) == {"public": 0.137, "private": 0.121}
    md = (out / "runs.md").read_text()
    assert "Sorted by epochs" in md and "| 1 | yolov5n_192-e20_example | ultralytics |" in md
    assert "public 0.137, private 0.121" in md and "1.0000 (VinDr mAP@0.4)" in md
    runs = json.loads((out / "runs.json").read_text())
    assert runs["sort"] == "epochs" and runs["runs"][1]["per_split"][0]["best_value"] == pytest.approx(result.score)
    assert (out / "runs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = md
    caplog.clear()
    assert _main(["benchmark", "--runs", yolo_run, "-o", out]) == 1  # default order: the submission's 0.137 is
    assert "exists already" in caplog.text and (out / "runs.md").read_text() == before  # ... refused, kept
    assert _main(["benchmark", "--runs", yolo_run, work, "-o", out, "--overwrite"]) == 0
    assert list(pd.read_csv(out / "runs.csv")["config"]) == ["fracture_example", "yolov5n_192-e20_example"]
    caplog.clear()
    assert _main(["benchmark", "--runs", yolo_run, "-o", yolo_run / "report"]) == 1
    assert "inside the input folder" in caplog.text
    caplog.clear()
    (tmp_path / "empty").mkdir()
    assert _main(["benchmark", "--runs", tmp_path / "empty", "-o", tmp_path / "other"]) == 1
    assert "not a cxrdet train work dir (no config.py" in caplog.text
