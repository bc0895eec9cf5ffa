"""No identifier reaches a log, a message or an output file: planted in headers (intact and damaged) and in names."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxrdet.example.dicom_writer import fake_phi, write_dicom

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out

MRNS = [f"MRN{48151623 + 7 * i}" for i in range(8)]  # file names that are medical record numbers


def _set_length(data: bytes, tag_and_vr: bytes, length: int) -> bytes:
    """Overwrite the 2-byte explicit-VR length of the first element starting with ``tag_and_vr``."""
    at = data.index(tag_and_vr) + len(tag_and_vr)
    return data[:at] + struct.pack("<H", length) + data[at + 2 :]


def _damaged(path: Path, how: str, phi: dict[str, str]) -> None:
    data = path.read_bytes()
    name, pid = phi["PatientName"].encode(), phi["PatientID"].encode()
    assert len(name) <= 12
    if how == "uid-swallows-header":  # TransferSyntaxUID's length byte damaged: the UID swallows the header
        data = _set_length(data, b"\x02\x00\x10\x00UI", 3000)
    elif how == "modality-holds-id":  # Modality overwritten with the patient ID
        pid = pid + b" " * (len(pid) % 2)
        data = data.replace(
            b"\x08\x00\x60\x00CS\x02\x00DX", b"\x08\x00\x60\x00CS" + struct.pack("<H", len(pid)) + pid, 1
        )
    elif how == "photometric-holds-name":
        data = data.replace(b"MONOCHROME2 ", name.ljust(12), 1)
    elif how == "bits-as-text":  # BitsAllocated (US) relabelled as a text element quoting the name
        at = data.index(b"\x28\x00\x00\x01US")
        data = data[:at] + b"\x28\x00\x00\x01LO" + struct.pack("<H", 12) + name.ljust(12) + data[at + 10 :]
    elif how == "truncated-in-name":
        data = data[: data.index(name) + len(name) // 2]
    elif how == "byte-flips":
        rng = np.random.default_rng(7)
        head = bytearray(data)
        for i in rng.integers(132, min(len(data), 900), size=25):
            head[i] ^= 0xFF
        data = bytes(head)
    path.write_bytes(data)


DAMAGE = [
    "intact",
    "uid-swallows-header",
    "modality-holds-id",
    "photometric-holds-name",
    "bits-as-text",
    "truncated-in-name",
    "byte-flips",
    "intact",
]


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, list[bytes]]:
    root = tmp_path_factory.mktemp("phi")
    rng = np.random.default_rng(1)
    secrets = set()
    rows = []
    for i, (mrn, how) in enumerate(zip(MRNS, DAMAGE)):
        phi = fake_phi(f"q{i}x", patient_name=f"DOE^J{i}X")
        path = root / "dicom" / f"{mrn}.dicom"
        write_dicom(
            path,
            rng.integers(0, 4000, (96, 80)).astype(np.uint16),
            bits_stored=12,
            uid_seed=f"q{i}x",
            patient_name=phi["PatientName"],
        )
        _damaged(path, how, phi)
        secrets |= {v for k, v in phi.items() if k != "InstitutionName"} | {mrn}
        rows.append((mrn, "Nodule/Mass", 8, "R1", 10, 10, 40, 40))
        rows.append((mrn, "Nodule/Mass", 8, "R2", 12, 10, 41, 40))
    rows.append(("MRN00000000", "Nodule/Mass", 8, "R1", 10, 10, 40, 40))  # labelled image that has no file
    secrets.add("MRN00000000")
    pd.DataFrame(
        rows, columns=["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"]
    ).to_csv(root / "train.csv", index=False)
    return root, sorted(s.encode() for s in secrets)


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cxrdet.cli", "-v", *map(str, args)], capture_output=True)


def _leaks(secrets: list[bytes], blob: bytes) -> list[bytes]:
    return [s for s in secrets if s in blob or s.replace(b"^", b" ") in blob]


def test_pseudonymized_convert_leaks_nothing(planted, tmp_path):
    root, secrets = planted
    out, mapping = tmp_path / "data", tmp_path / "keys" / "map.json"
    result = _run(
        "convert",
        "--dicom-dir",
        root / "dicom",
        "--labels",
        root / "train.csv",
        "--out",
        out,
        "--size",
        "64",
        "--folds",
        "2",
        "--workers",
        "2",
        "--pseudonymize",
        "--pseudonym-map",
        mapping,
    )
    assert result.returncode == 1, result.stderr.decode()  # damaged files fail, the rest is converted
    assert not _leaks(secrets, result.stdout + result.stderr), result.stderr.decode()
    for path in out.rglob("*"):
        if path.is_file():
            assert not _leaks(secrets, path.read_bytes() + path.name.encode()), path
    meta = pd.read_csv(out / "meta.csv", dtype=str)
    assert len(meta) >= 3 and meta["image_id"].str.fullmatch(r"[0-9a-f]{32}").all()
    failures = pd.read_csv(out / "failures.csv", dtype=str)
    assert list(failures.columns) == ["image_id", "reason"] and len(failures) + len(meta) == len(MRNS)
    import json

    table = json.loads(mapping.read_text())["images"]
    assert {table[i] for i in meta["image_id"]} <= set(MRNS)  # the user's map reverses the pseudonyms
    assert (mapping.stat().st_mode & 0o777) == 0o600


def test_headers_leak_nothing_without_pseudonyms(planted, tmp_path):
    root, secrets = planted
    out = tmp_path / "plain"
    result = _run("convert", "--dicom-dir", root / "dicom", "--out", out, "--size", "64", "--workers", "1")
    header_secrets = [s for s in secrets if not s.startswith(b"MRN")]  # file names are the user's own ids here
    assert not _leaks(header_secrets, result.stdout + result.stderr), result.stderr.decode()
    for path in out.rglob("*"):
        if path.is_file():
            assert not _leaks(header_secrets, path.read_bytes()), path
    modality = pd.read_csv(out / "meta.csv", dtype=str)["modality"].dropna()
    assert set(modality) <= {"DX", "CR"}


def test_pseudonym_map_inside_the_output_is_refused(planted, tmp_path):
    root, _ = planted
    result = _run(
        "convert",
        "--dicom-dir",
        root / "dicom",
        "--out",
        tmp_path / "d",
        "--pseudonymize",
        "--pseudonym-map",
        tmp_path / "d" / "map.json",
    )
    assert result.returncode == 1 and b"outside the output folder" in result.stderr


def test_grouped_folds_leak_nothing_even_from_damaged_headers(planted, tmp_path):
    """--group-by patient reads PatientID through the HMAC path only: no identifier in any output or log."""
    root, secrets = planted
    out = tmp_path / "grouped"
    result = _run(
        "convert",
        "--dicom-dir",
        root / "dicom",
        "--labels",
        root / "train.csv",
        "--out",
        out,
        "--size",
        "64",
        "--folds",
        "2",
        "--workers",
        "2",
        "--pseudonymize",
        "--pseudonym-map",
        tmp_path / "map.json",
        "--group-by",
        "patient",
    )
    assert result.returncode == 1, result.stderr.decode()
    assert not _leaks(secrets, result.stdout + result.stderr), result.stderr.decode()
    for path in out.rglob("*"):
        if path.is_file():
            assert not _leaks(secrets, path.read_bytes() + path.name.encode()), path
    folds = pd.read_csv(out / "folds.csv")
    assert list(folds.columns) == ["image_id", "fold", "group"] and folds["group"].is_unique  # one image a patient


def test_images_of_one_patient_or_study_never_straddle_folds(tmp_path):
    rng = np.random.default_rng(4)
    rows = []
    patients = {}
    for i in range(12):
        image_id, patient = f"img{i:02d}", f"pt{i // 3}"  # 4 patients, 3 images each
        patients[image_id] = patient
        write_dicom(
            tmp_path / "dicom" / f"{image_id}.dcm", rng.integers(0, 4000, (64, 48)).astype(np.uint16), uid_seed=patient
        )
        rows.append((image_id, *(("Nodule/Mass", 8) if i % 2 else ("Cardiomegaly", 3)), "R1", 5, 5, 20, 20))
    pd.DataFrame(
        rows, columns=["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"]
    ).to_csv(tmp_path / "train.csv", index=False)
    for group_by in ("patient", "study"):
        out = tmp_path / group_by
        result = _run(
            "convert",
            "--dicom-dir",
            tmp_path / "dicom",
            "--labels",
            tmp_path / "train.csv",
            "--out",
            out,
            "--size",
            "0",
            "--folds",
            "2",
            "--workers",
            "1",
            "--group-by",
            group_by,
            "--no-progress",
        )
        assert result.returncode == 0, result.stderr.decode()
        folds = pd.read_csv(out / "folds.csv").set_index("image_id")
        by_patient = folds.groupby(folds.index.map(patients))
        assert (by_patient["fold"].nunique() == 1).all() and (by_patient["group"].nunique() == 1).all()
        assert folds["group"].nunique() == 4 and sorted(folds["fold"].unique()) == [0, 1]
        blob = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file()) + result.stdout + result.stderr
        assert not any(fake_phi(p)["PatientID"].encode() in blob for p in set(patients.values()))
    bad = _run(
        "convert",
        "--dicom-dir",
        tmp_path / "dicom",
        "--labels",
        tmp_path / "train.csv",
        "--out",
        tmp_path / "x",
        "--group-by",
        "patient",
    )
    assert bad.returncode != 0 and b"--group-by needs --folds" in bad.stderr
