"""Seeded fuzz of read_dicom: hundreds of mutants of real files, each read in a forked child with a memory cap.

Every mutant must end in a finite image or a DicomError; a foreign exception, a signal (a decoder that
aborts), a timeout, a MemoryError, a NaN/inf image or a planted identifier in any output fails the test.
The outcome table is printed (``pytest -s`` or ``-rP`` shows it); ``python tests/io/dicom_mutants.py``
prints the same for any copy of cxrdet (``--cxrdet-root``), e.g. an unfixed one.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import dicom_mutants
import pytest

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out

COUNT = 510  # 30 mutants of each of the 17 seeds
SEED = 20261201


def test_mutants_of_real_files_give_a_dicom_error_or_a_finite_image(tmp_path):
    batches = max(2, min(4, os.cpu_count() or 2))
    mutants, outcomes, seeds, seconds = dicom_mutants.fuzz(tmp_path, COUNT, SEED, batches=batches)
    table = dicom_mutants.summary(outcomes, mutants)
    print(f"\nunmutated seeds: {dicom_mutants.summary(seeds).splitlines()[0]}\n{table}\nwall time {seconds:.1f} s")

    assert [o.status for o in seeds] == ["ok"] * len(seeds), dicom_mutants.summary(seeds)
    assert len(outcomes) == COUNT
    failures = [o for o in outcomes if o.failed]
    assert not failures, table
    # the fuzz is not trivial: both good images and every kind of mutation are there
    statuses = Counter(o.status for o in outcomes)
    assert statuses["ok"] >= COUNT // 10 and statuses["DicomError"] >= COUNT // 3, statuses
    assert {m.kind.split("#")[0] for m in mutants} >= set(dicom_mutants.MUTATIONS)
    assert {m.seed for m in mutants} == set(dicom_mutants.SEED_SPECS)


def test_mutants_are_deterministic(tmp_path):
    seeds = dicom_mutants.build_seeds(tmp_path / "seeds")
    first = dicom_mutants.make_mutants(seeds, tmp_path / "a", 40, SEED)
    second = dicom_mutants.make_mutants(seeds, tmp_path / "b", 40, SEED)
    assert [m.description for m in first] == [m.description for m in second]
    for a, b in zip(first, second):
        assert Path(a.path).read_bytes() == Path(b.path).read_bytes()
