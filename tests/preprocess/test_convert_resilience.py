"""``convert`` survives decoders that abort, panic or hang; resumes by fingerprint; cleans up after a kill."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import cxrdet.preprocess.images as images
from cxrdet.example.dicom_writer import write_dicom
from cxrdet.preprocess.convert import ConvertOptions, convert
from cxrdet.preprocess.ledger import Ledger

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out

_real_decode = images.dicom_to_display


class PanicException(BaseException):
    """pyo3's PanicException (pylibjpeg-rle's Rust panics) derives from BaseException, not Exception."""


@pytest.fixture()
def dicoms(example_dataset, tmp_path) -> Path:
    folder = tmp_path / "train"
    shutil.copytree(example_dataset / "train", folder)
    return folder


def _ids(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.dicom"))


def _hostile_decoder(log: Path, abort: str, panic: str, hang: str):
    def decode(path, size, bit_depth=8):
        with open(log, "a") as f:
            f.write(Path(path).stem + "\n")
        stem = Path(path).stem
        if stem == abort:
            os.abort()
        if stem == panic:
            raise PanicException("called `Option::unwrap()` on a `None` value")
        if stem == hang:
            time.sleep(120)
        return _real_decode(path, size, bit_depth)

    return decode


def _opts(dicoms: Path, out: Path, **kw) -> ConvertOptions:
    return ConvertOptions(dicom_dir=dicoms, out=out, size=64, progress=False, **kw)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_crashing_decoder_costs_one_file_and_is_not_decoded_again(dicoms, tmp_path, monkeypatch, workers):
    abort, panic, hang, *rest = _ids(dicoms)
    calls = tmp_path / "calls.txt"
    monkeypatch.setattr(images, "dicom_to_display", _hostile_decoder(calls, abort, panic, hang))
    out = tmp_path / "out"
    summary = convert(_opts(dicoms, out, workers=workers, timeout=3.0))
    assert (summary.failed, summary.converted) == (3, len(rest))
    reasons = pd.read_csv(out / "failures.csv").set_index("image_id")["reason"]
    assert reasons[abort] == "decoder crashed: SIGABRT in the worker process"
    assert reasons[panic] == "decoder crashed: PanicException raised in the worker process"
    assert reasons[hang].startswith("decoder timed out: after 3 s")
    meta = pd.read_csv(out / "meta.csv", dtype={"image_id": str})
    assert sorted(meta["image_id"]) == rest
    assert sorted(p.stem for p in (out / "images").glob("*.png")) == rest

    calls.write_text("")
    again = convert(_opts(dicoms, out, workers=workers, timeout=3.0))
    assert calls.read_text() == ""  # nothing decoded again: neither the done files nor the crashing ones
    assert (again.failed, again.resumed, again.converted) == (3, len(rest), 0)
    again_reasons = pd.read_csv(out / "failures.csv").set_index("image_id")["reason"]
    assert again_reasons[abort].startswith("decoder crashed: SIGABRT") and "--retry-failed" in again_reasons[abort]

    retry = convert(_opts(dicoms, out, workers=workers, timeout=3.0, retry_failed=True))
    assert sorted(calls.read_text().split()) == sorted([abort, panic, hang])
    assert retry.failed == 3


def test_cli_exits_1_after_a_crash_and_lists_it(dicoms, tmp_path, monkeypatch, capsys):
    from cxrdet.cli import main

    abort = _ids(dicoms)[0]
    monkeypatch.setattr(images, "dicom_to_display", _hostile_decoder(tmp_path / "c.txt", abort, "-", "-"))
    code = main(
        [
            "convert",
            "--dicom-dir",
            str(dicoms),
            "--out",
            str(tmp_path / "o"),
            "--size",
            "64",
            "--workers",
            "2",
            "--no-progress",
        ]
    )
    assert code == 1
    assert "failed          1  (see failures.csv)" in capsys.readouterr().out


def test_a_replaced_dicom_is_converted_again(dicoms, tmp_path):
    out = tmp_path / "out"
    convert(_opts(dicoms, out))
    victim = dicoms / f"{_ids(dicoms)[0]}.dicom"
    write_dicom(victim, np.full((300, 100), 7, np.uint16) + np.arange(100, dtype=np.uint16), bits_stored=12)
    summary = convert(_opts(dicoms, out))
    assert summary.converted == 1
    meta = pd.read_csv(out / "meta.csv", dtype={"image_id": str}).set_index("image_id").loc[victim.stem]
    png = cv2.imread(str(out / meta["file"]), cv2.IMREAD_UNCHANGED)
    assert (meta["original_height"], meta["original_width"]) == (300, 100)
    assert png.shape == (meta["height"], meta["width"]) == (64, 21)
    assert meta["scale_y"] == pytest.approx(64 / 300)


def _convert_slowly(dicoms: Path, out: Path) -> None:
    def slow(path, size, bit_depth=8):
        time.sleep(0.3)
        return _real_decode(path, size, bit_depth)

    images.dicom_to_display = slow  # in this forked child only
    convert(_opts(dicoms, out, workers=1))


def test_a_killed_run_resumes_cleanly(dicoms, tmp_path):
    out = tmp_path / "out"
    child = multiprocessing.get_context("fork").Process(target=_convert_slowly, args=(dicoms, out))
    child.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "images").glob("*.png"))) < 3:
        time.sleep(0.05)
    assert child.is_alive(), "the run finished before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    done_before = len(Ledger(out).entries)
    assert 3 <= done_before < len(_ids(dicoms))
    (out / "images" / ".left.a1b2c3.tmp.png").write_bytes(b"half a PNG")  # what a kill mid-write leaves
    summary = convert(_opts(dicoms, out, workers=2))
    assert summary.failed == 0 and summary.resumed + summary.converted == len(_ids(dicoms))
    assert summary.resumed >= done_before - 1  # the worker's last file may have been cut before its entry
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    meta = pd.read_csv(out / "meta.csv", dtype={"image_id": str})
    assert sorted(meta["image_id"]) == _ids(dicoms)
    for row in meta.itertuples():
        assert cv2.imread(str(out / row.file), cv2.IMREAD_UNCHANGED).shape == (row.height, row.width)


def test_outputs_get_the_users_umask(dicoms, tmp_path):
    old = os.umask(0o027)
    try:
        convert(_opts(dicoms, tmp_path / "out"))
    finally:
        os.umask(old)
    for name in ("meta.csv", "convert.json", "ledger.jsonl", f"images/{_ids(dicoms)[0]}.png"):
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o640, name
