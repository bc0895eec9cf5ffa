"""Bone-age numbers: MAD / RMSE (months, years) and the per-age-group MAD by hand, sklearn as a second opinion."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from sklearn import metrics as sk

from cxrdet.evaluation.regression import age_group_errors, bone_age_errors, mad, rmse, sex_accuracy


def test_hand_computed():
    true = [12.0, 30.0, 100.0, 150.0]
    pred = [15.0, 24.0, 100.0, 162.0]  # errors +3, -6, 0, +12
    assert mad(pred, true) == 21.0 / 4
    assert rmse(pred, true) == math.sqrt((9 + 36 + 0 + 144) / 4)
    out = bone_age_errors(pred, true)
    assert out == pytest.approx(
        {
            "MAD_months": 5.25,
            "RMSE_months": math.sqrt(47.25),
            "MAD_years": 5.25 / 12,
            "RMSE_years": math.sqrt(47.25) / 12,
        }
    )
    assert all(type(v) is float for v in out.values())


@pytest.mark.parametrize("seed", range(10))
def test_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    true = rng.uniform(0, 228, 50)
    pred = true + rng.normal(0, 10, 50)
    assert mad(pred, true) == pytest.approx(sk.mean_absolute_error(true, pred), rel=1e-12)
    assert rmse(pred, true) == pytest.approx(math.sqrt(sk.mean_squared_error(true, pred)), rel=1e-12)


def test_age_groups_by_true_age():
    true = np.array([5.0, 11.9, 12.0, 30.0, 35.0, 47.9])
    pred = np.array([6.0, 10.9, 15.0, 30.0, 40.0, 47.9])  # errors 1, 1, 3, 0, 5, 0
    one = age_group_errors(pred, true, 1)
    assert [(g.low_years, g.high_years, g.count) for g in one] == [(0, 1, 2), (1, 2, 1), (2, 3, 2), (3, 4, 1)]
    assert [g.mad_months for g in one] == pytest.approx([1.0, 3.0, 2.5, 0.0])
    two = age_group_errors(pred, true, 2)
    assert [(g.low_years, g.high_years, g.count) for g in two] == [(0, 2, 3), (2, 4, 3)]
    assert [g.mad_months for g in two] == pytest.approx([5 / 3, 5 / 3])
    with pytest.raises(ValueError, match="group_years"):
        age_group_errors(pred, true, 0)


def test_sex_accuracy_only_over_known_sexes(caplog):
    assert sex_accuracy([0.9, 0.2, 0.6, 0.4], [1.0, 0.0, 0.0, float("nan")]) == pytest.approx(2 / 3)
    assert sex_accuracy([0.5], [1.0]) == 1.0  # P(male) 0.5 counts as male
    with caplog.at_level(logging.WARNING, logger="cxrdet.evaluation.regression"):
        assert math.isnan(sex_accuracy([0.9], [float("nan")]))
    assert "no image with a known sex" in caplog.text


def test_empty_and_bad():
    assert math.isnan(mad([], [])) and math.isnan(rmse([], []))
    assert age_group_errors([], []) == []
    with pytest.raises(ValueError, match="2 predicted ages for 1"):
        mad([1, 2], [1])
    with pytest.raises(ValueError, match="finite"):
        rmse([float("nan")], [1.0])
