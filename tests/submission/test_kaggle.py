"""Kaggle submission building and normal/abnormal gating, checked against hand-written expected rows."""

from __future__ import annotations

import pandas as pd
import pytest

from cxrdet.errors import InputError
from cxrdet.structures import BoxTable
from cxrdet.submission.gating import apply_normal_gating, read_normal_probs
from cxrdet.submission.kaggle import build_submission, read_sample_ids, write_submission


def table(rows, images):
    frame = pd.DataFrame(rows, columns=["image_id", "class_id", "score", "x_min", "y_min", "x_max", "y_max"])
    return BoxTable(frame, BoxTable.empty(images).images, "preds.csv")


PRED = table([("b", 3, 0.5, 10.5, 20, 30, 40), ("a", 0, 0.25, 1, 2, 3, 4), ("b", 14, 0.1, 0, 0, 1, 1)], ["a", "b", "c"])


def test_rows_follow_the_sample_order():
    sub = build_submission(PRED, ["c", "b", "a"])
    assert sub.values.tolist() == [
        ["c", "14 1 0 0 1 1"],
        ["b", "3 0.5 10.5 20 30 40 14 0.1 0 0 1 1"],
        ["a", "0 0.25 1 2 3 4"],
    ]


def test_missing_and_extra_images():
    with pytest.raises(InputError, match="no entry"):
        build_submission(PRED, ["a", "b", "c", "d"])
    sub = build_submission(PRED, ["d", "a", "b", "c"], allow_missing=True)
    assert sub.iloc[0].tolist() == ["d", "14 1 0 0 1 1"]
    with pytest.raises(InputError, match="not in the sample"):
        build_submission(PRED, ["a", "b"])


def test_write_refuses_to_overwrite(tmp_path):
    out = tmp_path / "submission.csv"
    sub = build_submission(PRED, ["a", "b", "c"])
    write_submission(sub, out)
    assert out.read_text().splitlines()[0] == "image_id,PredictionString"
    assert pd.read_csv(out, dtype=str).values.tolist() == sub.values.tolist()
    with pytest.raises(InputError, match="exists"):
        write_submission(sub, out)
    write_submission(sub.iloc[:1], out, overwrite=True)
    assert len(out.read_text().splitlines()) == 2


def test_read_sample_ids(tmp_path):
    (tmp_path / "s.csv").write_text("image_id,PredictionString\nx,14 1 0 0 1 1\ny,14 1 0 0 1 1\n")
    assert list(read_sample_ids(tmp_path / "s.csv")) == ["x", "y"]
    (tmp_path / "d.csv").write_text("image_id,PredictionString\nx,\ny,\nx,\n")
    with pytest.raises(InputError, match="twice") as err:
        read_sample_ids(tmp_path / "d.csv")
    assert err.value.row == 4


def probs(**p_normal):
    return pd.Series(p_normal, name="p_normal")


def test_append_rule_replaces_detector_class_14():
    out = apply_normal_gating(PRED, probs(a=0.75, b=0.5, c=0.125))
    sub = build_submission(out, ["a", "b", "c"])
    assert sub["PredictionString"].tolist() == [
        "0 0.25 1 2 3 4 14 0.75 0 0 1 1",
        "3 0.5 10.5 20 30 40 14 0.5 0 0 1 1",
        "14 0.125 0 0 1 1",
    ]


def test_two_threshold_rule():
    # p_abnormal: a 0.05 (< low: only "No finding"), b 0.5 (append), c 0.97 (>= high: unchanged)
    out = apply_normal_gating(PRED, probs(a=0.95, b=0.5, c=0.03), rule="two-threshold", low=0.08, high=0.95)
    sub = build_submission(out, ["a", "b", "c"])
    assert sub["PredictionString"].tolist() == ["14 1 0 0 1 1", "3 0.5 10.5 20 30 40 14 0.5 0 0 1 1", "14 1 0 0 1 1"]


def test_missing_probabilities_are_an_error():
    with pytest.raises(InputError, match="no probability for 1 images"):
        apply_normal_gating(PRED, probs(a=0.5, b=0.5))


def test_read_normal_probs(tmp_path):
    (tmp_path / "n.csv").write_text("image_id,p_abnormal\na,0.25\nb,1\n")
    assert read_normal_probs(tmp_path / "n.csv").to_dict() == {"a": 0.75, "b": 0.0}
    (tmp_path / "bad.csv").write_text("image_id,p_normal\na,0.25\nb,1.5\n")
    with pytest.raises(InputError, match=r"\[0, 1\]") as err:
        read_normal_probs(tmp_path / "bad.csv")
    assert err.value.row == 3
    (tmp_path / "cols.csv").write_text("image_id,prob\na,0.25\n")
    with pytest.raises(InputError, match="p_normal"):
        read_normal_probs(tmp_path / "cols.csv")
