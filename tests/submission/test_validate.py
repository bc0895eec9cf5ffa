"""validate_submission finds every problem, each on its line (files written by hand here)."""

from __future__ import annotations

import pytest

from cxrdet.errors import InputError
from cxrdet.io.sizes import read_sizes
from cxrdet.submission.validate import Problem, check_prediction_string, validate_submission


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "sample.csv"
    path.write_text("image_id,PredictionString\n" + "".join(f"{i},14 1 0 0 1 1\n" for i in "abcd"))
    return path


def test_valid_file_has_no_problem(tmp_path, sample):
    sub = tmp_path / "sub.csv"
    sub.write_text(
        "image_id,PredictionString\nd,14 1 0 0 1 1\na,0 0.5 1 2 3 4 14 0.9 0 0 1 1\nb,0 1e-05 1 1 2 2\n"
        "c,13 1.0 0.5 0.5 100 100\n"
    )
    assert validate_submission(sub, sample) == []


def test_every_problem_with_its_line(tmp_path, sample):
    sub = tmp_path / "sub.csv"
    sub.write_text(
        "image_id,Prediction\n"  # 1: header
        "a,0 0.5 1 2 3\n"  # 2: not sextuples
        "a,14 1 0 0 1 1\n"  # 3: duplicate
        "x,14 1 0 0 1 1\n"  # 4: not in sample
        "b,15 0.5 1 2 3 4 1 1.5 1 2 3 4 2 0.5 5 2 3 4 3 0.5 1 5 3 4\n"  # 5: four problems
        "c,\n"  # 6: empty
        'd,"0 0.5 1 two 3 4",extra\n'
    )  # 7: three fields
    problems = validate_submission(sub, sample)
    lines = [p.line for p in problems]
    assert lines == [1, 2, 3, 4, 5, 5, 5, 5, 6, 7, None]
    text = [str(p) for p in problems]
    assert "not a multiple of 6" in text[1]
    assert "already listed on line 2" in text[2]
    assert "not in the sample" in text[3]
    assert text[4].endswith("sextuple 1: class_id must be an integer in 0..14")
    assert text[5].endswith("sextuple 2: score must be in [0, 1]")
    assert text[6].endswith("sextuple 3: x_max < x_min") and text[7].endswith("sextuple 4: y_max < y_min")
    assert "empty PredictionString" in text[8] and "3 fields" in text[9]
    assert problems[-1] == Problem(None, "image d of the sample submission is missing")


def test_bounds_need_sizes_and_class_14_box(tmp_path, sample):
    sub = tmp_path / "sub.csv"
    sub.write_text("image_id,PredictionString\na,0 0.5 1 2 300 4\nb,14 0.5 0 0 2 2\nc,14 1 0 0 1 1\nd,0 0.5 -1 0 3 4\n")
    meta = tmp_path / "meta.csv"
    meta.write_text("image_id,height,width\na,100,200\nd,100,200\n")
    no_sizes = validate_submission(sub, sample)
    assert [(p.line, "class 14" in p.message) for p in no_sizes] == [(3, True)]
    with_sizes = validate_submission(sub, sample, sizes=read_sizes(meta))
    assert [p.line for p in with_sizes] == [2, 3, 5]
    assert "outside the image (width 200, height 100" in with_sizes[0].message


def test_not_a_number_and_nan():
    assert check_prediction_string("0 0.5 1 two 3 4") == ["not a number: 'two'"]
    assert check_prediction_string("0 nan 1 2 3 4") == ["sextuple 1: score is NaN or infinite"]


def test_unreadable_sample(tmp_path):
    bad = tmp_path / "s.csv"
    bad.write_text("id\nx\n")
    with pytest.raises(InputError, match="image_id"):
        validate_submission(bad, bad)


def test_read_sizes_from_prediction_file(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text(
        "image_id,class_id,score,x_min,y_min,x_max,y_max,height,width\n"
        "a,1,0.5,1,2,3,4,100,200\na,2,0.5,1,2,3,4,100,200\nb,,,,,,,,\n"
    )
    assert read_sizes(p).to_dict("index") == {"a": {"height": 100.0, "width": 200.0}}
    p.write_text("image_id,height,width\na,100,200\na,100,201\n")
    with pytest.raises(InputError, match="two different sizes"):
        read_sizes(p)


def test_read_sizes_takes_the_dicom_size_from_a_convert_meta_file(tmp_path):
    """convert's meta.csv: height/width are the PNG's; boxes live in original_height/original_width pixels."""
    p = tmp_path / "meta.csv"
    p.write_text("image_id,file,original_height,original_width,height,width\na,images/a.png,3000,2500,1024,853\n")
    assert read_sizes(p).to_dict("index") == {"a": {"height": 3000.0, "width": 2500.0}}
    p.write_text("image_id,height,width\na,100,0\n")
    with pytest.raises(InputError, match="positive"):
        read_sizes(p)
