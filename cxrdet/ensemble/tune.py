"""Ensembling, tuning: search fusion thresholds and model weights that maximise VinDr mAP on out-of-fold predictions.

The input is validated and flattened once (:func:`cxrdet.ensemble.fuse.prepare`) and the ground truth
indexed once (:class:`cxrdet.evaluation.voc.VocEvaluator`); each setting then costs one compiled fusion
pass over all images plus one vectorised evaluation.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from cxrdet.ensemble.fuse import Prepared, fuse
from cxrdet.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class Trial:
    """One evaluated setting.

    Attributes:
        iou_thr: fusion IoU threshold.
        skip_box_thr: score below which boxes are ignored.
        weights: one weight per model.
        conf_type: WBF confidence type.
        map: VinDr mAP@0.4 of the fused predictions.
        seconds: time to fuse and evaluate.
    """

    iou_thr: float
    skip_box_thr: float
    weights: list[float]
    conf_type: str
    map: float = float("nan")
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def parse_weights(spec: str, n_models: int) -> list[float]:
    """``"1,2,1"`` -> ``[1.0, 2.0, 1.0]``, checked against the number of models.

    Raises:
        ConfigError: not numbers, wrong count, or a weight that is not > 0.
    """
    try:
        values = [float(v) for v in spec.replace(" ", "").split(",") if v]
    except ValueError:
        raise ConfigError(f"weights {spec!r}: expected comma-separated numbers such as 1,2,1") from None
    if len(values) != n_models:
        raise ConfigError(f"weights {spec!r} give {len(values)} weights for {n_models} models")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ConfigError(f"weights {spec!r}: every weight must be a number > 0")
    return values


def settings_grid(
    n_models: int,
    iou_thrs: Sequence[float],
    skip_box_thrs: Sequence[float],
    weights_grid: Sequence[str] = (),
    weight_levels: Sequence[float] = (),
    conf_types: Sequence[str] = ("avg",),
) -> list[Trial]:
    """Every combination of the given values (weights: explicit specs, or every product of levels).

    Args:
        n_models: number of models.
        iou_thrs: IoU thresholds to try.
        skip_box_thrs: skip thresholds to try.
        weights_grid: weight specs like ``"1,2,1"``.
        weight_levels: values each model's weight may take (all ``len(levels) ** n_models`` products,
            proportional duplicates removed); used when ``weights_grid`` is empty.
        conf_types: WBF confidence types to try.

    Raises:
        ConfigError: an empty axis or a bad weight spec.
    """
    weights = [parse_weights(s, n_models) for s in weights_grid]
    if not weights and weight_levels:
        seen, weights = set(), []
        for combo in itertools.product([float(v) for v in weight_levels], repeat=n_models):
            key = tuple(np.round(np.asarray(combo) / max(combo), 9))
            if all(v > 0 for v in combo) and key not in seen:
                seen.add(key)
                weights.append(list(combo))
    weights = weights or [[1.0] * n_models]
    if not iou_thrs or not skip_box_thrs or not conf_types:
        raise ConfigError("every search axis needs at least one value")
    return [
        Trial(float(i), float(s), list(w), c)
        for i, s, w, c in itertools.product(iou_thrs, skip_box_thrs, weights, conf_types)
    ]


def sample(trials: list[Trial], n: int | None, seed: int = 0) -> list[Trial]:
    """``n`` settings drawn without replacement (seeded), or all of them when ``n`` is None or too big."""
    if n is None or n >= len(trials):
        return trials
    if n < 1:
        raise ConfigError(f"trials must be >= 1, got {n}")
    pick = np.sort(np.random.default_rng(seed).choice(len(trials), size=n, replace=False))
    return [trials[i] for i in pick]


def search(
    prep: Prepared, evaluator, trials: list[Trial], method: str = "wbf", progress: bool = True, **options
) -> list[Trial]:
    """Fuses and scores every setting; returns the trials (filled in) sorted best first.

    Args:
        prep: prepared predictions.
        evaluator: a :class:`cxrdet.evaluation.voc.VocEvaluator` on the ground truth.
        trials: settings from :func:`settings_grid` / :func:`sample`.
        method: fusion method.
        progress: show a tqdm bar.
        **options: other method options (allows_overflow, sigma, thresh, soft_method).
    """
    from tqdm import tqdm

    bar = tqdm(trials, desc=f"tune {method}", unit="setting", disable=not progress or None)
    best = float("-inf")
    for trial in bar:
        start = time.perf_counter()
        table = fuse(
            prep,
            method,
            trial.weights,
            iou_thr=trial.iou_thr,
            skip_box_thr=trial.skip_box_thr,
            conf_type=trial.conf_type,
            **options,
        )
        trial.map = float(evaluator.evaluate(table, curves=False).map)
        trial.seconds = time.perf_counter() - start
        best = max(best, trial.map)
        bar.set_postfix(best=f"{best:.4f}", last=f"{trial.map:.4f}")
        log.debug("%s -> %.5f", trial, trial.map)
    return sorted(trials, key=lambda t: -np.nan_to_num(t.map, nan=-1.0))
