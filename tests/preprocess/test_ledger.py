"""Ledger: fingerprints change with the file, outcomes survive a torn last line, compaction keeps one per input."""

from __future__ import annotations

import os

from cxrdet.io.atomic import remove_stale_temps, write_text
from cxrdet.preprocess.ledger import CONVERTED, FAILED, Ledger, Outcome, fingerprint


def test_fingerprint_follows_content_size_mtime_and_key(tmp_path):
    f = tmp_path / "a.dcm"
    f.write_bytes(b"x" * 1000)
    os.utime(f, ns=(10**18, 10**18))
    first = fingerprint(f)
    assert fingerprint(f) == first
    f.write_bytes(b"y" + b"x" * 999)  # same size...
    os.utime(f, ns=(10**18, 10**18))  # ...and same mtime: the header hash tells them apart
    assert fingerprint(f) != first
    second = fingerprint(f)
    os.utime(f, ns=(2 * 10**18, 2 * 10**18))
    assert fingerprint(f) != second
    assert fingerprint(f, key=b"salt") != fingerprint(f)


def test_outcomes_are_kept_across_a_kill_and_compacted(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.add(Outcome("a", "p1", CONVERTED, record={"image_id": "a", "file": "images/a.png"}))
    ledger.add(Outcome("b", "p2", FAILED, reason="decoder crashed: SIGABRT in the worker process"))
    ledger.add(Outcome("a", "p3", CONVERTED, record={"image_id": "a", "file": "images/a.png"}))
    with open(tmp_path / "ledger.jsonl", "a") as f:
        f.write('{"image_id": "c", "finger')  # a kill in the middle of a line
    reopened = Ledger(tmp_path)  # the first one was never closed, as after a kill
    assert reopened.lookup("a", "p1") is None and reopened.lookup("a", "p3").outcome == CONVERTED
    assert reopened.lookup("b", "p2").reason.startswith("decoder crashed")
    assert reopened.lookup("c", "anything") is None
    reopened.close(keep={"a"})
    assert len((tmp_path / "ledger.jsonl").read_text().splitlines()) == 1


def test_stale_temporary_files_are_removed_and_nothing_else(tmp_path):
    write_text(tmp_path / "keep.csv", "a\n")
    (tmp_path / ".keep.abc123.tmp.png").write_bytes(b"half")
    (tmp_path / ".meta.x1.tmp.csv").write_bytes(b"half")
    (tmp_path / ".hidden_but_mine").write_bytes(b"user's")
    assert remove_stale_temps(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden_but_mine", "keep.csv"]
