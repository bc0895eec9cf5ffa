"""``cxrdet ensemble`` and ``cxrdet tune-ensemble``: hand-computed fusions, Kaggle output, flips, tuning, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cxrdet.cli import main
from cxrdet.ensemble.fuse import ensemble_tables
from cxrdet.evaluation.voc import vindr_map
from cxrdet.io.predictions import read_table

HEADER = "image_id,class_id,score,x_min,y_min,x_max,y_max,height,width\n"
MODEL_A = (
    HEADER
    + """f1,8,0.9,100,100,200,200,1000,800
f1,14,0.2,0,0,1,1,1000,800
n1,14,0.8,0,0,1,1,1000,800
"""
)
MODEL_B = (
    HEADER
    + """f1,8,0.7,110,100,210,200,1000,800
n1,14,0.6,0,0,1,1,1000,800
n1,2,0.3,500,500,600,640,1000,800
"""
)
# MODEL_B as predicted on horizontally flipped images (800 wide): x -> 800 - x
MODEL_B_FLIPPED = (
    HEADER
    + """f1,8,0.7,590,100,690,200,1000,800
n1,14,0.6,0,0,1,1,1000,800
n1,2,0.3,200,500,300,640,1000,800
"""
)
GT = """image_id,class_id,score,x_min,y_min,x_max,y_max
f1,8,1,102,98,204,202
n1,14,1,0,0,1,1
"""


@pytest.fixture
def files(tmp_path):
    for name, text in (("a.csv", MODEL_A), ("b.csv", MODEL_B), ("b_flip.csv", MODEL_B_FLIPPED), ("gt.csv", GT)):
        (tmp_path / name).write_text(text)
    return tmp_path


def _rows(path):
    return read_table(path).boxes.sort_values(["image_id", "class_id"]).reset_index(drop=True)


def test_weighted_fusion_by_hand(files, capsys):
    assert (
        main(
            [
                "ensemble",
                str(files / "a.csv"),
                str(files / "b.csv"),
                "-o",
                str(files / "out.csv"),
                "--weights",
                "3",
                "1",
                "--iou-thr",
                "0.4",
            ]
        )
        == 0
    )
    assert "-> 4 boxes on 2 images" in capsys.readouterr().out
    rows = _rows(files / "out.csv")
    f1 = rows[(rows.image_id == "f1") & (rows.class_id == 8)].iloc[0]
    # IoU 9000/11000 > 0.4: one box, coordinates weighted by score x weight (2.7 and 0.7)
    assert f1.x_min == pytest.approx((2.7 * 100 + 0.7 * 110) / 3.4, rel=1e-6)
    assert f1.x_max == pytest.approx((2.7 * 200 + 0.7 * 210) / 3.4, rel=1e-6)
    assert (f1.y_min, f1.y_max) == pytest.approx((100, 200), rel=1e-6)
    assert f1.score == pytest.approx((2.7 + 0.7) / 2 * 2 / 4, rel=1e-6)  # mean, x min(models, boxes) / sum(w)
    lone = rows[rows.class_id == 2].iloc[0]
    assert lone.score == pytest.approx(0.3 * 1 / 4) and lone.x_max == pytest.approx(600)
    normal = rows[rows.class_id == 14].set_index("image_id").score
    assert normal["n1"] == pytest.approx((3 * 0.8 + 0.6) / 4)
    assert normal["f1"] == pytest.approx(3 * 0.2 / 4)  # model b has no class-14 row for f1: counts as 0
    images = read_table(files / "out.csv").images
    assert images.loc["f1", "width"] == 800 and images.loc["n1", "height"] == 1000


def test_kaggle_output_and_flipped_input(files):
    assert main(["ensemble", str(files / "a.csv"), str(files / "b.csv"), "-o", str(files / "out.csv")]) == 0
    assert (
        main(
            [
                "ensemble",
                str(files / "a.csv"),
                "--hflip",
                str(files / "b_flip.csv"),
                "-o",
                str(files / "sub.csv"),
                "--format",
                "kaggle",
            ]
        )
        == 0
    )
    text = (files / "sub.csv").read_text().splitlines()
    assert text[0] == "image_id,PredictionString" and len(text) == 3
    kaggle, plain = _rows(files / "sub.csv"), _rows(files / "out.csv")
    cols = ["class_id", "score", "x_min", "y_min", "x_max", "y_max"]
    assert kaggle[cols].to_numpy() == pytest.approx(plain[cols].to_numpy(), rel=1e-9)


@pytest.mark.parametrize("method", ["nms", "soft_nms", "nmw"])
def test_other_methods(files, method):
    out = files / f"{method}.parquet"
    assert main(["ensemble", str(files / "a.csv"), str(files / "b.csv"), "-o", str(out), "--method", method]) == 0
    expected = ensemble_tables([read_table(files / "a.csv"), read_table(files / "b.csv")], method)
    got = read_table(out)
    assert got.boxes[["class_id", "score", "x_min", "x_max"]].to_numpy() == pytest.approx(
        expected.boxes[["class_id", "score", "x_min", "x_max"]].to_numpy()
    )


def test_tune_ensemble(files, capsys):
    report = files / "tune.json"
    assert (
        main(
            [
                "tune-ensemble",
                str(files / "a.csv"),
                str(files / "b.csv"),
                "--gt",
                str(files / "gt.csv"),
                "--iou-thr",
                "0.3",
                "0.9",
                "--skip-box-thr",
                "0",
                "0.5",
                "--weight-levels",
                "1",
                "2",
                "--json",
                str(report),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    doc = json.loads(report.read_text())
    assert len(doc["trials"]) == 2 * 2 * 3  # weights (1,1), (1,2), (2,1); (2,2) is (1,1) again
    best = doc["best"]
    assert best["map"] == max(t["map"] for t in doc["trials"])
    fused = ensemble_tables(
        [read_table(files / "a.csv"), read_table(files / "b.csv")],
        weights=best["weights"],
        iou_thr=best["iou_thr"],
        skip_box_thr=best["skip_box_thr"],
    )
    assert vindr_map(read_table(files / "gt.csv", role="gt"), fused).map == pytest.approx(best["map"])
    assert f"mAP@0.4 = {best['map']:.4f}" in out.splitlines()[-1]
    assert {s["file"].split("/")[-1] for s in doc["single_models"]} == {"a.csv", "b.csv"}


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.csv"], "missing.csv: no such file"),
        (["--weights", "1", "2", "3"], "3 weights for 2 prediction files"),
        (["--weights", "1", "0"], "weights must be finite numbers > 0"),
    ],
)
def test_errors_exit_1_naming_the_problem(files, caplog, args, message):
    files_args = [str(files / "a.csv"), str(files / "b.csv")]
    if args[0].endswith(".csv"):
        files_args, args = [str(files / "a.csv"), str(files / args[0])], []
    assert main(["ensemble", *files_args, *args, "-o", str(files / "out.csv")]) == 1
    assert message in caplog.text
    assert not (files / "out.csv").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--weights-grid", "1,x"], "expected comma-separated numbers"),
        (["--weights-grid", "1,2,3"], "give 3 weights for 2 models"),
        (["--trials", "0"], "trials must be >= 1"),
    ],
)
def test_tune_errors(files, caplog, args, message):
    assert (
        main(
            [
                "tune-ensemble",
                str(files / "a.csv"),
                str(files / "b.csv"),
                "--gt",
                str(files / "gt.csv"),
                "--no-progress",
                *args,
            ]
        )
        == 1
    )
    assert message in caplog.text


def test_tune_random_subset_of_the_grid(files, capsys):
    report = files / "t.json"
    assert (
        main(
            [
                "tune-ensemble",
                str(files / "a.csv"),
                str(files / "b.csv"),
                "--gt",
                str(files / "gt.csv"),
                "--weight-levels",
                "1",
                "2",
                "3",
                "--trials",
                "5",
                "--seed",
                "3",
                "--json",
                str(report),
                "--no-progress",
            ]
        )
        == 0
    )
    trials = json.loads(report.read_text())["trials"]
    assert len(trials) == 5 and len({(t["iou_thr"], t["skip_box_thr"], tuple(t["weights"])) for t in trials}) == 5


def test_missing_images_error_and_empty_option(files, caplog):
    (files / "c.csv").write_text(HEADER + "f1,8,0.5,100,100,200,200,1000,800\n")
    args = ["ensemble", str(files / "a.csv"), str(files / "c.csv"), "-o", str(files / "out.csv")]
    assert main(args) == 1
    assert "c.csv: 1 images are missing (first: n1" in caplog.text
    assert main([*args, "--missing", "empty"]) == 0
    assert set(read_table(files / "out.csv").images.index) == {"f1", "n1"}


def test_console_script_help():
    out = subprocess.run(
        [sys.executable, "-m", "cxrdet.cli", "ensemble", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "--allows-overflow" in out.stdout and "--format" in out.stdout


@pytest.mark.slow
def test_out_refuses_an_existing_file_and_never_an_input(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(MODEL_A)
    b.write_text(MODEL_B)
    out_file = tmp_path / "wbf.csv"
    out_file.write_text("keep me")
    res = subprocess.run(
        [sys.executable, "-m", "cxrdet.cli", "ensemble", str(a), str(b), "-o", str(out_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode != 0 and "exists already" in res.stderr and "--overwrite" in res.stderr
    assert out_file.read_text() == "keep me"
    assert main(["ensemble", str(a), str(b), "-o", str(out_file), "--overwrite"]) == 0
    assert len(read_table(out_file).images) == 2
    for target in (a, tmp_path / "." / "b.csv"):
        before = target.read_text()
        res = subprocess.run(
            [sys.executable, "-m", "cxrdet.cli", "ensemble", str(a), str(b), "-o", str(target), "--overwrite"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode != 0 and "is one of this command's inputs" in res.stderr, res.stderr
        assert target.read_text() == before and "Traceback" not in res.stderr
