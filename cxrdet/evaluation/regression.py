"""Evaluation, bone age: MAD and RMSE in months and years, sex accuracy, and the MAD per age group.

Plain functions over numpy arrays of ages in MONTHS (the unit of the RSNA CSV and of the models' outputs);
:class:`~cxrdet.evaluation.task_metrics.BoneAgeMetric` wraps them for the Runner. MAD is the mean absolute
difference between predicted and true age, the figure the bone-age literature reports.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

MONTHS_PER_YEAR = 12.0


def _pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    t = np.asarray(true, dtype=np.float64).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"{p.size} predicted ages for {t.size} true ages")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("ages must be finite")
    return p, t


def mad(pred, true) -> float:
    """Mean absolute difference ``mean |pred - true|`` (in the inputs' unit; nan for no samples)."""
    p, t = _pair(pred, true)
    return float(np.mean(np.abs(p - t))) if p.size else math.nan


def rmse(pred, true) -> float:
    """Root mean squared error ``sqrt(mean (pred - true)^2)`` (nan for no samples)."""
    p, t = _pair(pred, true)
    return float(np.sqrt(np.mean((p - t) ** 2))) if p.size else math.nan


def bone_age_errors(pred_months, true_months) -> dict[str, float]:
    """``MAD_months``, ``RMSE_months``, ``MAD_years``, ``RMSE_years`` of predicted vs true ages in months."""
    m, r = mad(pred_months, true_months), rmse(pred_months, true_months)
    return {
        "MAD_months": m,
        "RMSE_months": r,
        "MAD_years": m / MONTHS_PER_YEAR,
        "RMSE_years": r / MONTHS_PER_YEAR,
    }


def sex_accuracy(pred_male, true_male, threshold: float = 0.5) -> float:
    """Accuracy of ``P(male) >= threshold`` over the images whose sex is known (``true_male`` not nan).

    Returns nan (with a warning logged) when no image has a known sex.
    """
    p = np.asarray(pred_male, dtype=np.float64).reshape(-1)
    t = np.asarray(true_male, dtype=np.float64).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"{p.size} predicted sexes for {t.size} true sexes")
    known = np.isfinite(t) & np.isfinite(p)
    if not known.any():
        log.warning("sex accuracy is undefined: no image with a known sex and a predicted one")
        return math.nan
    return float(np.mean((p[known] >= threshold) == (t[known] >= 0.5)))


@dataclass(frozen=True)
class AgeGroupError:
    """The error of the images whose TRUE age lies in ``[low_years, high_years)``."""

    low_years: float
    high_years: float
    mad_months: float
    count: int


def age_group_errors(pred_months, true_months, group_years: float = 1.0) -> list[AgeGroupError]:
    """MAD (months) per age group of ``group_years`` (1 or 2 years), by true age; groups with images only.

    Raises:
        ValueError: ``group_years`` not positive, or the inputs as in :func:`mad`.
    """
    if not group_years > 0:
        raise ValueError(f"group_years must be positive, got {group_years!r}")
    p, t = _pair(pred_months, true_months)
    width = group_years * MONTHS_PER_YEAR
    index = np.floor(t / width).astype(np.int64)
    out = []
    for k in np.unique(index):
        sel = index == k
        out.append(
            AgeGroupError(
                low_years=float(k * group_years),
                high_years=float((k + 1) * group_years),
                mad_months=float(np.mean(np.abs(p[sel] - t[sel]))),
                count=int(sel.sum()),
            )
        )
    return out
