"""``cxrdet demo`` end to end on a tiny example: every stage runs, the submission validates, mAP is printed last."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from offline_cli import run_offline as cxrdet


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline(tmp_path):
    home, out = tmp_path / "home", tmp_path / "demo"
    home.mkdir()
    result = cxrdet(home, "demo", "--out", out, "--n-train", "16", "--n-test", "6", "--size", "96", "--workers", "2",
                    "--cfg-options", "ultralytics.epochs=1", "ultralytics.imgsz=64", "ultralytics.batch=4",
                    "ultralytics.nbs=4", "predict.conf=0", "predict.max_det=10")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    for step in range(1, 8):
        assert any(line.startswith(f"[{step}/7]") for line in lines), step
    assert re.fullmatch(r"mAP@0\.4: [01]\.\d{4}", lines[-1])
    assert any(line.startswith("untrained yolov5n (same pipeline): mAP@0.4 ") for line in lines)
    assert "validation passed" in result.stdout
    for fold in (0, 1):
        assert (out / "train" / f"fold{fold}" / "weights" / "best.pt").is_file()
        assert (out / "train" / f"oof_fold{fold}.csv").is_file()
        assert (out / "pred" / f"test_fold{fold}.csv").is_file()
    submission = pd.read_csv(out / "submission.csv")
    sample = pd.read_csv(out / "example" / "sample_submission.csv")
    assert list(submission["image_id"]) == list(sample["image_id"])
    assert submission["PredictionString"].str.contains(r"(?:^| )14 [0-9.e-]+ 0 0 1 1").all()  # No finding scored
    check = cxrdet(home, "validate-submission", out / "submission.csv", "--sample",
                   out / "example" / "sample_submission.csv")
    assert check.returncode == 0, check.stdout
    assert not (home / ".config" / "Ultralytics").exists()
