"""``cxrdet convert`` edge cases: a clear error (no traceback), checked before the image pass, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest


def cxrdet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cxrdet.cli", *map(str, args)], capture_output=True, text=True)


def _refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_every_file_failing_is_a_clear_error_with_the_reasons(tmp_path):
    dicoms = tmp_path / "bad"
    dicoms.mkdir()
    (dicoms / "a.dcm").write_bytes(b"not a dicom")
    (dicoms / "b.dicom").write_bytes(b"DICM" * 40)
    result = cxrdet("convert", "--dicom-dir", dicoms, "--out", tmp_path / "out", "--no-progress")
    _refused(result, "none of the 2 DICOM files could be converted", "failures.csv")
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert sorted(failures["image_id"]) == ["a", "b"] and failures["reason"].str.len().gt(0).all()
    assert list(pd.read_csv(tmp_path / "out" / "meta.csv").columns[:2]) == ["image_id", "file"]


@pytest.mark.parametrize(
    "folds, words",
    [
        ("50", ["--folds 50 needs at least 50 labelled images", "has 12"]),
        ("-1", ["--folds must be 0"]),
        ("1", ["at least 2"]),
    ],
)
def test_impossible_folds_are_refused_before_any_image_is_read(example_dataset, tmp_path, folds, words):
    out = tmp_path / "out"
    result = cxrdet(
        "convert",
        "--dicom-dir",
        example_dataset / "train",
        "--labels",
        example_dataset / "train.csv",
        "--out",
        out,
        "--folds",
        folds,
        "--no-progress",
    )
    _refused(result, *words)
    assert not out.exists()


def test_labels_with_only_a_header_are_refused_before_the_image_pass(example_dataset, tmp_path):
    labels = tmp_path / "train.csv"
    labels.write_text("image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n")
    result = cxrdet(
        "convert",
        "--dicom-dir",
        example_dataset / "train",
        "--labels",
        labels,
        "--out",
        tmp_path / "out",
        "--folds",
        "2",
    )
    _refused(result, "no label rows", str(labels))
    assert not (tmp_path / "out").exists()


def test_out_naming_a_file_is_refused_and_the_file_kept(example_dataset, tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("precious")
    _refused(cxrdet("convert", "--dicom-dir", example_dataset / "test", "--out", target), "is a file")
    assert target.read_text() == "precious"


def test_a_folder_is_ours_only_by_our_marker(example_dataset, tmp_path):
    """A convert.json with the right keys is not enough: someone else's folder is never written into."""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "convert.json").write_text(json.dumps({"size": 1024, "bit_depth": 8}))
    (foreign / "meta.csv").write_text("their,data\n1,2\n")
    _refused(cxrdet("convert", "--dicom-dir", example_dataset / "test", "--out", foreign), "not written by cxrdet")
    assert sorted(p.name for p in foreign.iterdir()) == ["convert.json", "meta.csv"]
    assert (foreign / "meta.csv").read_text() == "their,data\n1,2\n"


def test_a_corrupt_convert_json_is_a_clear_error(example_dataset, tmp_path):
    out = tmp_path / "out"
    first = cxrdet("convert", "--dicom-dir", example_dataset / "test", "--out", out, "--size", "64", "--no-progress")
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        ".cxrdet-convert",
        "convert.json",
        "images",
        "ledger.jsonl",
        "meta.csv",
    ]
    (out / "convert.json").write_text('{"size": 64, "bit_')
    _refused(
        cxrdet("convert", "--dicom-dir", example_dataset / "test", "--out", out, "--size", "64"),
        "convert.json is unreadable or damaged",
    )
    (out / ".cxrdet-convert").write_text("garbage")
    _refused(cxrdet("convert", "--dicom-dir", example_dataset / "test", "--out", out, "--size", "64"), "marker")
