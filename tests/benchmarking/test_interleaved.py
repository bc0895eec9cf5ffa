"""The interleaved benchmark's reading: pairs from ``interleaved.json``, warm-up dropped, ratio by hand."""

from __future__ import annotations

import json

import pytest


def test_ratio_is_the_median_of_per_pair_ratios(tmp_path):
    from cxrdet.benchmarking.interleaved import RESULT, read_interleaved

    run = tmp_path / "run" / "all"
    run.mkdir(parents=True)
    record = dict(
        runner_seconds=[9.0, 9.0, 0.5, 0.4, 1.0],  # first two: warm-up
        plain_seconds=[1.0, 1.0, 0.4, 0.4, 0.5],
        batch=2,
    )
    (run / RESULT).write_text(json.dumps(record))
    speed = read_interleaved(tmp_path / "run")
    assert speed.runner_seconds == (0.5, 0.4, 1.0)
    assert speed.ratio == pytest.approx(0.8)  # pairs 0.4/0.5, 0.4/0.4, 0.5/1.0 -> median 0.8
    assert speed.runner_images_per_second == pytest.approx(2 / 0.5)
    assert speed.plain_images_per_second == pytest.approx(2 / 0.4)


def test_missing_or_empty_record_is_an_error(tmp_path):
    from cxrdet.benchmarking.interleaved import RESULT, read_interleaved

    with pytest.raises(FileNotFoundError, match=r"interleaved\.json"):
        read_interleaved(tmp_path)
    (tmp_path / RESULT).write_text(json.dumps(dict(runner_seconds=[1.0], plain_seconds=[1.0], batch=2)))
    with pytest.raises(ValueError, match="none after 2 warm-up"):
        read_interleaved(tmp_path)
