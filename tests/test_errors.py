"""cxrdet's errors survive pickling (they may cross from a worker process) with every attribute."""

from __future__ import annotations

import pickle

from cxrdet.errors import DicomError, InputError


def test_errors_pickle_round_trip():
    err = pickle.loads(pickle.dumps(DicomError("/a/b.dcm", "truncated", "install x")))
    assert (err.path, err.reason, err.hint, str(err)) == (
        "/a/b.dcm",
        "truncated",
        "install x",
        "/a/b.dcm: truncated (install x)",
    )
    err = pickle.loads(pickle.dumps(InputError("t.csv", "bad class_id", row=7)))
    assert (err.path, err.reason, err.row, str(err)) == ("t.csv", "bad class_id", 7, "t.csv, line 7: bad class_id")
