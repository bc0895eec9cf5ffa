"""The grouping-key path: only an HMAC of PatientID / StudyInstanceUID comes out, never the value itself."""

from __future__ import annotations

import hashlib
import hmac
import logging

import numpy as np
import pytest

from cxrdet.example.dicom_writer import fake_phi, write_dicom
from cxrdet.io.dicom_groups import hashed_group_key, new_group_secret


@pytest.fixture
def scans(tmp_path):
    pixels = np.zeros((32, 24), np.uint16)
    return {
        name: write_dicom(tmp_path / f"{name}.dcm", pixels, uid_seed=seed)
        for name, seed in (("a1", "p1"), ("a2", "p1"), ("b1", "p2"))
    }


def test_same_patient_same_key_and_only_the_hmac_comes_out(scans, caplog):
    key = new_group_secret()
    caplog.set_level(logging.DEBUG)
    got = {name: hashed_group_key(path, "patient", key) for name, path in scans.items()}
    assert got["a1"] == got["a2"] != got["b1"]
    patient = fake_phi("p1")["PatientID"]
    assert got["a1"] == hmac.new(key, patient.encode(), hashlib.sha256).hexdigest()
    assert patient not in caplog.text and patient not in "".join(got.values())
    assert hashed_group_key(scans["a1"], "patient", new_group_secret()) != got["a1"]  # keyed
    study = {name: hashed_group_key(path, "study", key) for name, path in scans.items()}
    assert study["a1"] == study["a2"] != study["b1"] and study["a1"] != got["a1"]


def test_absent_or_unreadable_gives_no_key(tmp_path, scans):
    import pydicom

    ds = pydicom.dcmread(scans["b1"])
    del ds.PatientID
    ds.save_as(tmp_path / "anon.dcm")
    key = new_group_secret()
    assert hashed_group_key(tmp_path / "anon.dcm", "patient", key) is None
    (tmp_path / "junk.dcm").write_bytes(b"\x00" * 200)
    assert hashed_group_key(tmp_path / "junk.dcm", "patient", key) is None
    with pytest.raises(ValueError, match="group_by"):
        hashed_group_key(scans["a1"], "name", key)
    with pytest.raises(ValueError, match="16 bytes"):
        hashed_group_key(scans["a1"], "patient", b"short")
