"""``cxrdet submit`` and ``cxrdet validate-submission`` end to end (subprocess)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out

PRED = """image_id,class_id,score,x_min,y_min,x_max,y_max,height,width
b,3,0.5,10.5,20,30,40,100,200
a,0,0.25,1,2,3,4,100,200
c,,,,,,,100,200
"""


def cxrdet(*args):
    return subprocess.run(
        [sys.executable, "-m", "cxrdet.cli", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_submit_validate_and_refuse_overwrite(tmp_path):
    (tmp_path / "pred.csv").write_text(PRED)
    (tmp_path / "sample.csv").write_text("image_id,PredictionString\nc,14 1 0 0 1 1\na,14 1 0 0 1 1\nb,14 1 0 0 1 1\n")
    (tmp_path / "normal.csv").write_text("image_id,p_normal\na,0.5\nb,0.25\nc,0.75\n")
    sub = tmp_path / "submission.csv"
    out = cxrdet(
        "submit",
        tmp_path / "pred.csv",
        "--sample",
        tmp_path / "sample.csv",
        "-o",
        sub,
        "--normal-prob",
        tmp_path / "normal.csv",
    )
    assert out.returncode == 0, out.stderr
    assert "validation passed" in out.stdout
    assert sub.read_text().splitlines() == [
        "image_id,PredictionString",
        "c,14 0.75 0 0 1 1",
        "a,0 0.25 1 2 3 4 14 0.5 0 0 1 1",
        "b,3 0.5 10.5 20 30 40 14 0.25 0 0 1 1",
    ]
    again = cxrdet("submit", tmp_path / "pred.csv", "--sample", tmp_path / "sample.csv", "-o", sub)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert "14 0.75" in sub.read_text()  # untouched
    for own in ("pred.csv", "sample.csv", "normal.csv"):
        before = (tmp_path / own).read_text()
        onto = cxrdet(
            "submit",
            tmp_path / "pred.csv",
            "--sample",
            tmp_path / "sample.csv",
            "--normal-prob",
            tmp_path / "normal.csv",
            "-o",
            tmp_path / own,
            "--overwrite",
        )
        assert onto.returncode == 1 and "is one of this command's inputs" in onto.stderr, onto.stderr
        assert (tmp_path / own).read_text() == before

    ok = cxrdet("validate-submission", sub, "--sample", tmp_path / "sample.csv", "--sizes", tmp_path / "pred.csv")
    assert ok.returncode == 0 and ok.stdout.strip().endswith("0 problems - ready to submit")

    sub.write_text("image_id,PredictionString\nc,14 1 0 0 1 1\na,0 0.5 1 2 300 4\na,\n")
    bad = cxrdet("validate-submission", sub, "--sample", tmp_path / "sample.csv", "--sizes", tmp_path / "pred.csv")
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert [line.split(": ")[1] for line in lines[:-1]] == [
        "line 3",
        "line 4",
        "line 4",
        "image b of the sample submission is missing",
    ]
    assert lines[-1].endswith("4 problems")
