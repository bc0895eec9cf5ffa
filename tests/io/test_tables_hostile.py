"""Hostile tables: every table reader fails with an InputError naming the file (and line), or reports the row.

Readers: labels (``read_labels`` + ``validate_rows``: bad rows are REJECTED as LabelProblems with their line),
box tables (``read_table``: prediction CSV/parquet, Kaggle CSV, VinDr train.csv as ground truth), sizes,
sample submission, normal probabilities, and ``validate_submission`` (REPORTS every problem, never raises for
what a file holds). The CLI commands using them are run once each at the end: exit 1 (2 for argparse), no
traceback.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxrdet.errors import InputError
from cxrdet.io.predictions import read_table
from cxrdet.io.sizes import read_sizes
from cxrdet.io.tables import MAX_PIXELS
from cxrdet.preprocess.labels import check_images, read_labels, validate_rows
from cxrdet.submission.gating import read_normal_probs
from cxrdet.submission.kaggle import read_sample_ids
from cxrdet.submission.validate import validate_submission

LABELS_HEADER = "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max"
PRED_HEADER = "image_id,class_id,score,x_min,y_min,x_max,y_max"
KAGGLE_HEADER = "image_id,PredictionString"
HUGE_INT = "9" * 30
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\nIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4\x00\x00\x00\x00IEND\xaeB`\x82"
)
SECRET = "DR-SECRET-7"  # a radiologist's identifier: no message may quote it


def write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def raises_input_error(read: Callable[[Path], object], path: Path, match: str, row: int | None = None) -> InputError:
    """Asserts ``read(path)`` raises an InputError about ``path`` (at ``row`` when given) matching ``match``."""
    with pytest.raises(InputError, match=match or None) as err:
        read(path)
    assert err.value.path == str(path) and str(path) in str(err.value)
    if row is not None:
        assert err.value.row == row, str(err.value)
    return err.value


# --------------------------------------------------------------------------- every reader, every broken file


@dataclass(frozen=True)
class Reader:
    name: str
    header: str
    good: str  # one valid data row
    bad: str  # one row with a bad value (a rejection or an error)
    read: Callable[[Path], object]


def _labels(path: Path):
    good, problems = validate_rows(read_labels(path))
    return good[LABELS_HEADER.split(",")].to_dict("list"), [(p.line, p.problem) for p in problems]


def _table(role: str):
    def read(path: Path):
        t = read_table(path, role=role)
        return t.boxes.to_dict("list"), list(t.images.index)

    return read


READERS = [
    Reader("labels", LABELS_HEADER, "img1,Nodule/Mass,8,R1,10,10,50,50", "img2,Nodule/Mass,8,R1,60,10,50,50", _labels),
    Reader("predictions", PRED_HEADER, "img1,8,0.5,10,10,50,50", "img2,8,2.5,10,10,50,50", _table("pred")),
    Reader("kaggle", KAGGLE_HEADER, "img1,8 0.5 10 10 50 50", "img2,8 2.5 10 10 50 50", _table("pred")),
    Reader(
        "vindr_gt",
        LABELS_HEADER,
        "img1,Nodule/Mass,8,R1,10,10,50,50",
        "img2,Nodule/Mass,8,R1,60,10,50,50",
        _table("gt"),
    ),
    Reader("sizes", "image_id,height,width", "img1,100,200", "img2,-5,200", lambda p: read_sizes(p).to_dict("index")),
    Reader("sample", KAGGLE_HEADER, "img1,14 1 0 0 1 1", "img1,14 1 0 0 1 1", lambda p: list(read_sample_ids(p))),
    Reader("normal_probs", "image_id,p_normal", "img1,0.25", "img2,1.5", lambda p: read_normal_probs(p).to_dict()),
]
IDS = [r.name for r in READERS]


def _broken_files(r: Reader) -> dict[str, tuple[bytes, str, int | None]]:
    """name -> (content, expected message, expected line)."""
    h, g = r.header, r.good
    not_utf8 = f"{h}\n{g}\n".encode() + g.replace("img1", "img\xff", 1).encode("latin-1") + b"\n"
    return {
        "empty_0_bytes": (b"", "empty file", None),
        "header_only": (f"{h}\n".encode(), "no rows|no label rows|no image", None),
        "only_blank_lines": (b"\n\n\n", "no header line", None),
        "binary_garbage": (bytes(range(256)) * 8, "binary", None),
        "png_renamed": (PNG, "PNG image", None),
        "invalid_utf8": (not_utf8, "not UTF-8", 3),
        "utf16_with_bom": (f"{h}\n{g}\n".encode("utf-16"), "UTF-16", None),
        "missing_columns": (b"file,foo\nimg1,1\n", "column", 1),
        "duplicate_column": (f"{h},{h.split(',')[-1]}\n{g},1\n".encode(), "more than once", 1),
        "duplicate_column_after_strip": (f"{h}, image_id\n{g},img9\n".encode(), "more than once", 1),
        "unterminated_quote": (f'{h}\n{g}\n"{g}\n{g}\n'.encode(), "never closed", 3),
        "too_many_fields": (f"{h}\n{g}\n{g},1,2\n".encode(), "fields, expected", 3),
    }


BROKEN = [(r, case) for r in READERS for case in _broken_files(r)]


@pytest.mark.parametrize("reader,case", BROKEN, ids=[f"{r.name}-{c}" for r, c in BROKEN])
def test_broken_file_is_an_input_error_naming_file_and_line(tmp_path, reader, case):
    data, match, row = _broken_files(reader)[case]
    path = write(tmp_path, f"{reader.name}.csv", data)
    raises_input_error(reader.read, path, match, row)


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_directory_and_missing_file(tmp_path, reader):
    raises_input_error(reader.read, tmp_path, "is a directory")
    raises_input_error(reader.read, tmp_path / "absent.csv", "no such file")


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_headerless_file_error_does_not_quote_the_row(tmp_path, reader):
    """Without a header the first row's cells would be "column names": they may hold identifiers."""
    row = f"img1,Nodule/Mass,8,{SECRET},10,10,50,50" if reader.header == LABELS_HEADER else f"img1,{SECRET}"
    path = write(tmp_path, "noheader.csv", f"{row}\n{row}\n")
    err = raises_input_error(reader.read, path, "column")
    assert SECRET not in str(err)


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_bom_extra_columns_blank_lines_crlf_and_gzip_just_work(tmp_path, reader):
    h, g = reader.header, reader.good
    plain = reader.read(write(tmp_path, "plain.csv", f"{h}\n{g}\n"))
    variants = {
        "bom": f"\ufeff{h}\n{g}\n",
        "extra": f"{h},comment\n{g},hello\n",
        "blank": f"\n{h}\n\n{g}\n  \n\n",
        "crlf": f"{h}\r\n{g}\r\n",
        "spaced_header": f"{h.replace(',', ', ')}\n{g}\n",
    }
    for name, text in variants.items():
        assert reader.read(write(tmp_path, f"{name}.csv", text)) == plain, name
    assert reader.read(write(tmp_path, "t.csv.gz", gzip.compress(f"{h}\n{g}\n".encode()))) == plain


@pytest.mark.parametrize("reader", READERS, ids=IDS)
def test_line_numbers_count_blank_lines(tmp_path, reader):
    """pandas skips blank lines; the reported line is still the one an editor shows."""
    path = write(tmp_path, "t.csv", f"{reader.header}\n\n{reader.good}\n   \n{reader.bad}\n")
    if reader.name == "labels":
        assert [line for line, _ in reader.read(path)[1]] == [5]
    else:
        raises_input_error(reader.read, path, "", row=5)  # any reason: the line is what is checked


def test_labels_line_numbers_count_quoted_newlines(tmp_path):
    path = write(
        tmp_path, "t.csv", f'{LABELS_HEADER}\nimg1,"Nodule\nMass",8,R1,10,10,50,50\nimg2,Nodule/Mass,8,R1,60,10,50,50\n'
    )
    problems = validate_rows(read_labels(path))[1]
    assert [(p.line, p.problem.split(" (")[0]) for p in problems] == [
        (2, "unknown class_name"),
        (4, "x_max < x_min or y_max < y_min"),
    ]


# ----------------------------------------------------------------------------- labels: bad rows are rejected

LABEL_REJECTED = [
    *[
        (f"img2,X,{v},R1,10,10,50,50", "unknown class_id")
        for v in ("nan", "inf", "-inf", "1e308", HUGE_INT, "abc", "8.5", "15", "-1", "")
    ],
    *[(f"img2,Nodule/Mass,8,R1,10,10,{v},50", "missing or non-numeric") for v in ("nan", "inf", "-inf", "abc", "")],
    ("img2,Nodule/Mass,8,R1,10,10,1e308,50", "beyond"),
    (f"img2,Nodule/Mass,8,R1,10,10,{HUGE_INT},50", "beyond"),
    ("img2,Nodule/Mass,8,R1,-1e308,-1e308,1e308,1e308", "beyond"),
    ("img2,Nodule/Mass,8,R1,60,10,50,50", "x_max < x_min"),
    ("img2,Nodule/Mass,8,R1,10,60,50,50", "y_max < y_min"),
    ("img2,Nodule/Mass,8,R1,10,10,10,50", "zero-area"),
    (",Nodule/Mass,8,R1,10,10,50,50", "empty image_id"),
    ("   ,Nodule/Mass,8,R1,10,10,50,50", "empty image_id"),
    ("img2,X,8,R1,10,10,50,50", "unknown class_name"),
    ("img2,ILD,8,R1,10,10,50,50", "class_name is the name of class 5, not of class_id 8"),
    ("img1,Nodule/Mass,8,R1,10,10,50,50", "exact duplicate of line 2"),
]


@pytest.mark.parametrize("row,problem", LABEL_REJECTED)
def test_label_row_with_bad_value_is_rejected_with_its_line(tmp_path, row, problem):
    path = write(tmp_path, "train.csv", f"{LABELS_HEADER}\nimg1,Nodule/Mass,8,R1,10,10,50,50\n{row}\n")
    good, problems = validate_rows(read_labels(path))
    assert [(p.line, p.action) for p in problems] == [(3, "rejected")]
    assert problem in problems[0].problem and good["line"].tolist() == [2]


def test_label_negative_zero_and_negative_box(tmp_path):
    """-0 is 0; a box reaching outside the image is kept, then clipped by check_images (and reported)."""
    path = write(
        tmp_path,
        "train.csv",
        f"{LABELS_HEADER}\nimg1,Aortic enlargement,-0,R1,-0,10,50,50\nimg1,Nodule/Mass,8,R1,-20,-5,50,50\n",
    )
    good, problems = validate_rows(read_labels(path))
    assert problems == [] and good["class_id"].tolist() == [0, 8]
    kept, clipped = check_images(good, {"img1": (100, 100)})
    assert [(p.line, p.action) for p in clipped] == [(3, "clipped")]
    assert kept[["x_min", "y_min"]].to_numpy().tolist() == [[0, 10], [0, 0]]


# ------------------------------------------------------------------------------ box tables: bad values


def _pred_row(field: str, value: str) -> str:
    cells = dict(zip(PRED_HEADER.split(","), ["img2", "8", "0.5", "10", "10", "50", "50"]))
    cells[field] = value
    return ",".join(cells.values())


_EXPECT = {  # value -> expected message per field (class_id, score, x_max)
    "nan": ("empty \\(or NaN\\)",) * 3,
    "inf": ("infinite",) * 3,
    "-inf": ("infinite",) * 3,
    "1e308": ("class_id must be", "score must be", "beyond"),
    HUGE_INT: ("class_id must be", "score must be", "beyond"),
    "abc": ("class_id is not a number", "score is not a number", "x_max is not a number"),
}
PRED_BAD = [(_pred_row(f, v), m[i]) for v, m in _EXPECT.items() for i, f in enumerate(("class_id", "score", "x_max"))]
PRED_BAD += [(_pred_row("class_id", v), "class_id must be") for v in ("15", "-1", "1.5", "14.000001")]
PRED_BAD += [(_pred_row("score", v), r"score must be in \[0, 1\]") for v in ("-0.1", "1.5")]
PRED_BAD += [
    (_pred_row("x_min", "60"), "x_max < x_min"),
    (_pred_row("y_min", "60"), "y_max < y_min"),
    (_pred_row("x_min", "-1e308"), "beyond"),
    (_pred_row("image_id", ""), "empty image_id"),
    (_pred_row("image_id", '"  "'), "empty image_id"),
    (_pred_row("score", ""), "empty"),
]


@pytest.mark.parametrize("row,match", PRED_BAD)
def test_prediction_bad_value_names_file_and_line(tmp_path, row, match):
    path = write(tmp_path, "pred.csv", f"{PRED_HEADER}\nimg1,8,0.5,10,10,50,50\n{row}\n")
    raises_input_error(read_table, path, match, row=3)


@pytest.mark.parametrize("value", ["abc", "0", "-0", "-5", "inf", "nan", "1e308", HUGE_INT])
def test_prediction_bad_size_names_file_and_line(tmp_path, value):
    path = write(
        tmp_path,
        "pred.csv",
        f"{PRED_HEADER},height,width\nimg1,8,0.5,10,10,50,50,100,200\nimg2,8,0.5,10,10,50,50,{value},200\n",
    )
    raises_input_error(read_table, path, "height", row=3)


def test_prediction_values_that_are_fine(tmp_path):
    """-0 is 0; negative coordinates and zero-area boxes are what detectors output: kept (they score as FPs)."""
    path = write(
        tmp_path, "pred.csv", f"{PRED_HEADER}\nimg1,-0,-0,-0,10,50,50\nimg1,8,0.5,-5,-5,50,50\nimg1,8,0.5,10,10,10,50\n"
    )
    boxes = read_table(path).boxes
    assert boxes["class_id"].tolist() == [0, 8, 8] and boxes["score"].tolist() == [0.0, 0.5, 0.5]
    assert boxes["x_min"].tolist() == [0.0, -5.0, 10.0]


KAGGLE_BAD = [
    ("img2,8 0.5 10 10 50", "multiple of 6"),
    ("img2,8 0.5 10 10 50 50 1", "multiple of 6"),
    ("img2,8 nan 10 10 50 50", "not a number"),
    ("img2,8 0.5 10 10 inf 50", "infinite"),
    ("img2,8 0.5 10 10 1e308 50", "beyond"),
    (f"img2,{HUGE_INT} 0.5 10 10 50 50", "class_id must be"),
    ("img2,8 0.5 10 10 fifty 50", "not a number"),
    ("img2,8.5 0.5 10 10 50 50", "class_id must be"),
    ("img2,15 0.5 10 10 50 50", "class_id must be"),
    ("img2,8 1.5 10 10 50 50", "score must be"),
    ("img2,8 0.5 60 10 50 50", "x_max < x_min"),
    ("img1,14 1 0 0 1 1", "listed twice"),
    (",14 1 0 0 1 1", "empty image_id"),
]


@pytest.mark.parametrize("row,match", KAGGLE_BAD)
def test_kaggle_bad_value_names_file_and_line(tmp_path, row, match):
    path = write(tmp_path, "sub.csv", f"{KAGGLE_HEADER}\nimg1,8 0.5 10 10 50 50\n{row}\n")
    raises_input_error(read_table, path, match, row=3)


@pytest.mark.parametrize(
    "row,match",
    [
        ("img2,X,15,R1,10,10,50,50", "class_id must be"),
        ("img2,X,8,R1,10,,50,50", "empty"),
        ("img2,X,8,R1,10,10,1e308,50", "beyond"),
        (f"img2,X,8,R1,10,10,{HUGE_INT},50", "beyond"),
        ("img2,X,8,R1,10,10,abc,50", "not a number"),
        ("img2,X,8,R1,60,10,50,50", "x_max < x_min"),
    ],
)
def test_vindr_ground_truth_bad_value_names_file_and_line(tmp_path, row, match):
    path = write(tmp_path, "train.csv", f"{LABELS_HEADER}\nimg1,No finding,14,R1,,,,\n{row}\n")
    for gt_fuse in ("none", "wbf"):
        raises_input_error(lambda p, fuse=gt_fuse: read_table(p, role="gt", gt_fuse=fuse), path, match, row=3)


# ---------------------------------------------------------------------------------------------- parquet


def _parquet_frame(**columns) -> pd.DataFrame:
    base = {
        "image_id": ["img1", "img2"],
        "class_id": [8, 3],
        "score": [0.5, 0.25],
        "x_min": [10.0, 1.0],
        "y_min": [10.0, 1.0],
        "x_max": [50.0, 5.0],
        "y_max": [50.0, 5.0],
    }
    return pd.DataFrame({**base, **columns})


PARQUET_BAD = {
    "int_image_id": (_parquet_frame(image_id=[1, 2]), "image_id must hold text"),
    "float_image_id": (_parquet_frame(image_id=[1.5, 2.5]), "image_id must hold text"),
    "bytes_image_id": (_parquet_frame(image_id=[b"\xff\xfe", b"b"]), "image_id must hold text"),
    "bool_class_id": (_parquet_frame(class_id=[True, False]), "row 1: class_id is not a number"),
    "text_score": (_parquet_frame(score=["0.5", "high"]), "row 2: score is not a number"),
    "date_score": (_parquet_frame(score=pd.to_datetime(["2020-01-01"] * 2)), "row 1: score is not a number"),
    "nan_score": (_parquet_frame(score=[0.5, np.nan]), r"row 2: empty \(or NaN\)"),
    "huge_class": (_parquet_frame(class_id=np.array([8, 2**63 + 5], dtype=np.uint64)), "row 2: class_id must"),
    "huge_coordinate": (_parquet_frame(x_max=[50.0, 1e308]), "row 2: box coordinate beyond"),
    "no_rows": (_parquet_frame().iloc[:0], "no rows"),
    "bytes_rad_id": (_parquet_frame(rad_id=[b"\xff", b"R2"]), "rad_id must hold text"),
}


@pytest.mark.parametrize("case", PARQUET_BAD)
def test_parquet_with_wrong_dtypes(tmp_path, case):
    frame, match = PARQUET_BAD[case]
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    raises_input_error(
        lambda p: read_table(p, role="gt", gt_fuse="wbf") if "rad_id" in frame else read_table(p), path, match
    )


def test_parquet_damaged_truncated_duplicated(tmp_path):
    good = tmp_path / "good.parquet"
    _parquet_frame().to_parquet(good)
    data = good.read_bytes()
    raises_input_error(read_table, write(tmp_path, "trunc.parquet", data[: len(data) // 2]), "truncated")
    raises_input_error(read_table, write(tmp_path, "head.parquet", data[:-8] + b"XXXXXXXX"), "not a parquet")
    raises_input_error(read_table, write(tmp_path, "csv.parquet", f"{PRED_HEADER}\n"), "not a parquet")
    raises_input_error(read_table, write(tmp_path, "zero.parquet", b""), "empty file")
    names = ["image_id", "class_id", "score", "x_min", "y_min", "x_max", "y_max", "x_max"]
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array([1]), *[pa.array([0.5])] * 6], names=names)
    pq.write_table(table, tmp_path / "dup.parquet")
    raises_input_error(read_table, tmp_path / "dup.parquet", "x_max appears more than once")


# --------------------------------------------------------------------- sizes, sample ids, normal probabilities


@pytest.mark.parametrize(
    "row",
    [
        "img2,nan,200",
        "img2,inf,200",
        "img2,-inf,200",
        "img2,1e308,200",
        f"img2,{HUGE_INT},200",
        "img2,-0,200",
        "img2,0,200",
        "img2,abc,200",
        "img2,100,",
        ",100,200",
        "  ,100,200",
        "img1,100,201",
    ],
)
def test_sizes_bad_row_names_file_and_line(tmp_path, row):
    path = write(tmp_path, "sizes.csv", f"image_id,height,width\nimg1,100,200\n{row}\n")
    raises_input_error(read_sizes, path, "height/width|empty image_id|two different sizes", row=3)


def test_sizes_repeats_fractions_and_prediction_rows_are_fine(tmp_path):
    path = write(tmp_path, "sizes.csv", "image_id,height,width\nimg1,100,200\nimg1,100,200\nimg2,10.5,20\n")
    assert read_sizes(path).to_dict("index") == {
        "img1": {"height": 100.0, "width": 200.0},
        "img2": {"height": 10.5, "width": 20.0},
    }
    none_given = write(tmp_path, "p.csv", f"{PRED_HEADER},height,width\nimg1,,,,,,,,\n")
    raises_input_error(read_sizes, none_given, "no image size")


@pytest.mark.parametrize("body,row", [("img1,x\nimg1,x\n", 3), ("img1,x\n,x\n", 3), ("img1,x\n  ,x\n", 3)])
def test_sample_ids_duplicate_or_empty(tmp_path, body, row):
    path = write(tmp_path, "sample.csv", f"{KAGGLE_HEADER}\n{body}")
    raises_input_error(read_sample_ids, path, "twice|empty image_id", row=row)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", HUGE_INT, "abc", "", "-0.1", "1.5"])
def test_normal_probability_bad_value(tmp_path, value):
    path = write(tmp_path, "p.csv", f"image_id,p_abnormal\nimg1,0.25\nimg2,{value}\n")
    raises_input_error(read_normal_probs, path, r"p_abnormal must be a number in \[0, 1\]", row=3)


def test_normal_probability_ids_and_negative_zero(tmp_path):
    raises_input_error(read_normal_probs, write(tmp_path, "d.csv", "image_id,p_normal\na,0.5\na,0.5\n"), "twice", 3)
    raises_input_error(
        read_normal_probs, write(tmp_path, "e.csv", "image_id,p_normal\na,0.5\n,0.5\n"), "empty image_id", 3
    )
    assert read_normal_probs(write(tmp_path, "z.csv", "image_id,p_normal\na,-0\n")).to_dict() == {"a": 0.0}


# ------------------------------------------------------------- validate_submission reports, it does not raise


@pytest.fixture
def sample(tmp_path):
    return write(tmp_path, "sample.csv", f"{KAGGLE_HEADER}\nimg1,14 1 0 0 1 1\nimg2,14 1 0 0 1 1\n")


GOOD_SUBMISSION = f"{KAGGLE_HEADER}\nimg1,8 0.5 10 10 50 50\nimg2,14 1 0 0 1 1\n"


@pytest.mark.parametrize(
    "case,content,expected",
    [
        ("empty", b"", [(None, "empty file")]),
        ("binary", bytes(range(256)) * 8, [(None, "binary data")]),
        ("png", PNG, [(None, "PNG image")]),
        ("utf16", GOOD_SUBMISSION.encode("utf-16"), [(None, "UTF-16")]),
        ("header_only", f"{KAGGLE_HEADER}\n".encode(), [(None, "img1 of the sample"), (None, "img2 of the sample")]),
        (
            "invalid_utf8",
            GOOD_SUBMISSION.encode().replace(b"img2", b"img\xff"),
            [(3, "not UTF-8"), (None, "img2 of the sample")],
        ),
        (
            "unterminated_quote",
            f'{KAGGLE_HEADER}\n"img1,8 0.5 10 10 50 50\nimg2,14 1 0 0 1\n'.encode(),
            [(2, "unbalanced double quote"), (3, "not a multiple of 6"), (None, "img1 of the sample")],
        ),
        (
            "too_many_fields",
            f"{KAGGLE_HEADER}\nimg1,8 0.5 10 10 50 50,extra\nimg2,14 1 0 0 1 1\n".encode(),
            [(2, "3 fields"), (None, "img1 of the sample")],
        ),
        (
            "duplicate_column",
            f"{KAGGLE_HEADER},PredictionString\nimg1,8 0.5 10 10 50 50\nimg2,14 1 0 0 1 1\n".encode(),
            [(1, "header must be")],
        ),
        (
            "values",
            f"{KAGGLE_HEADER}\nimg1,8 nan 10 10 50 50 8 0.5 10 10 1e308 50 {HUGE_INT} 0.5 1 1 2 2\n"
            "img2,8 0.5 10 10 50\nimg2,14 1 0 0 1 1\n".encode(),
            [
                (2, "sextuple 1: score is NaN"),
                (2, "sextuple 2: box coordinate beyond"),
                (2, "sextuple 3: class_id must be"),
                (3, "not a multiple of 6"),
                (4, "already listed on line 3"),
            ],
        ),
        ("bom_crlf", ("\ufeff" + GOOD_SUBMISSION.replace("\n", "\r\n")).encode(), []),
    ],
)
def test_validate_submission_reports_every_problem(tmp_path, sample, case, content, expected):
    problems = validate_submission(write(tmp_path, "sub.csv", content), sample)
    assert len(problems) == len(expected), problems
    for problem, (line, text) in zip(problems, expected):
        assert problem.line == line and text in problem.message, problem


def test_validate_submission_long_strings_and_short_quotes(tmp_path, sample):
    many = " ".join(["8 0.5 10 10 50 50"] * 10_000)  # > 131072 characters: the csv module's default limit
    assert (
        validate_submission(write(tmp_path, "long.csv", f"{KAGGLE_HEADER}\nimg1,{many}\nimg2,{many}\n"), sample) == []
    )
    token = "x" * 5000
    headerless = f"img1,8 0.5 10 10 50 50 {many}\nimg2,8 0.5 10 10 50 {token}\n"
    problems = validate_submission(write(tmp_path, "noheader.csv", headerless), sample)
    assert [p.line for p in problems] == [1, 2, None] and all(len(str(p)) < 200 for p in problems)


def test_validate_submission_unreadable_path_is_an_input_error(tmp_path, sample):
    raises_input_error(lambda p: validate_submission(p, sample), tmp_path, "directory")
    raises_input_error(lambda p: validate_submission(p, sample), tmp_path / "absent.csv", "no such file")
    bad_sample = write(tmp_path, "bad_sample.csv", PNG)
    with pytest.raises(InputError, match="PNG") as err:
        validate_submission(write(tmp_path, "sub.csv", GOOD_SUBMISSION), bad_sample)
    assert err.value.path == str(bad_sample)


def test_max_pixels_is_far_beyond_any_dicom():
    assert MAX_PIXELS > 65535 * 8 and MAX_PIXELS**2 < 1e300


# ------------------------------------------------------------------------ CLI: exit 1 (2), never a traceback


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> dict[str, tuple[int, str, str, Path]]:
    """Runs every CLI case at once (they take ~2 s each, mostly imports) -> name: (code, stdout, stderr, file)."""
    d = tmp_path_factory.mktemp("cli")
    gt = write(d, "gt.csv", f"{LABELS_HEADER}\nimg1,Nodule/Mass,8,R1,10,10,50,50\nimg2,No finding,14,R1,,,,\n")
    pred = write(
        d, "pred.csv", f"{PRED_HEADER},height,width\nimg1,8,0.5,10,10,50,50,100,100\nimg2,14,0.5,0,0,1,1,100,100\n"
    )
    sample = write(d, "sample.csv", f"{KAGGLE_HEADER}\nimg1,14 1 0 0 1 1\nimg2,14 1 0 0 1 1\n")
    files = {
        "kaggle_not_utf8": write(d, "k.csv", f"{KAGGLE_HEADER}\nimg1,8 0.5 10 10 50 50\n".encode() + b"im\xff,\n"),
        "gt_header_only": write(d, "gt_empty.csv", f"{LABELS_HEADER}\n"),
        "truncated_parquet": write(d, "t.parquet", b"PAR1" + bytes(100)),
        "sizes_empty_id": write(d, "sizes.csv", "image_id,height,width\nimg1,100,100\n,100,100\n"),
        "png_as_gt": write(d, "png.csv", PNG),
        "sample_duplicate_column": write(d, "sample_dup.csv", "image_id,image_id\nimg1,img1\n"),
        "probs_empty_id": write(d, "probs.csv", "image_id,p_normal\nimg1,0.5\n,0.5\n"),
        "utf16_submission": write(d, "sub16.csv", f"{KAGGLE_HEADER}\nimg1,14 1 0 0 1 1\n".encode("utf-16")),
        "meta_directory": d,
    }
    f = files
    commands = {
        "evaluate_pred": (["evaluate", "--gt", gt, "--pred", f["kaggle_not_utf8"]], "kaggle_not_utf8"),
        "evaluate_gt": (["evaluate", "--gt", f["gt_header_only"], "--pred", pred], "gt_header_only"),
        "ensemble_pred": (["ensemble", pred, f["truncated_parquet"], "-o", d / "e.csv"], "truncated_parquet"),
        "ensemble_sizes": (
            ["ensemble", pred, pred, "--sizes", f["sizes_empty_id"], "-o", d / "e.csv"],
            "sizes_empty_id",
        ),
        "tune_ensemble_gt": (["tune-ensemble", pred, "--gt", f["png_as_gt"], "--no-progress"], "png_as_gt"),
        "submit_sample": (
            ["submit", pred, "--sample", f["sample_duplicate_column"], "-o", d / "s1.csv"],
            "sample_duplicate_column",
        ),
        "submit_probs": (
            ["submit", pred, "--sample", sample, "--normal-prob", f["probs_empty_id"], "-o", d / "s2.csv"],
            "probs_empty_id",
        ),
        "validate_submission": (["validate-submission", f["utf16_submission"], "--sample", sample], "utf16_submission"),
        "validate_meta": (
            ["validate-submission", sample, "--sample", sample, "--sizes", f["meta_directory"]],
            "meta_directory",
        ),
        "argparse": (["evaluate", "--gt", gt], "kaggle_not_utf8"),
    }
    running = {
        name: (
            subprocess.Popen(
                [sys.executable, "-m", "cxrdet.cli", *map(str, args)],
                cwd=d,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
            files[key],
        )
        for name, (args, key) in commands.items()
    }
    results = {}
    for name, (proc, path) in running.items():
        out, err = proc.communicate(timeout=300)
        results[name] = (proc.returncode, out, err, path)
    return results


CLI_CASES = {  # name -> (exit code, where the file and its problem must appear, text)
    "evaluate_pred": (1, "stderr", "line 3: is not UTF-8"),
    "evaluate_gt": (1, "stderr", "has a header but no rows"),
    "ensemble_pred": (1, "stderr", "not a parquet file"),
    "ensemble_sizes": (1, "stderr", "line 3: empty image_id"),
    "tune_ensemble_gt": (1, "stderr", "PNG image"),
    "submit_sample": (1, "stderr", "line 1: column 'image_id' appears more than once"),
    "submit_probs": (1, "stderr", "line 3: empty image_id"),
    "validate_submission": (1, "stdout", "UTF-16"),
    "validate_meta": (1, "stderr", "is a directory"),
    "argparse": (2, "stderr", "required: --pred"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_exits_cleanly_on_hostile_tables(cli, name):
    code, out, err, path = cli[name]
    want_code, stream, text = CLI_CASES[name]
    assert code == want_code, err
    assert "Traceback" not in err and "Traceback" not in out
    shown = out if stream == "stdout" else err
    assert text in shown, shown
    if want_code == 1:
        assert str(path) in shown
