"""Runner engine, training curves: every run folder gets ``training_curves.png`` and ``training_curves.csv``.

:class:`TrainingCurvesHook` averages what the model's ``train_step`` logs (``loss``, its parts, and e.g. a
classifier's batch ``accuracy``) over each epoch (or each ``interval`` iterations for iteration-based
loops), takes the validation metrics of each validation, rewrites the CSV after each validation and redraws
the figure (:func:`cxrdet.evaluation.curves.plot_training_curves`) after a validation when ``min_seconds``
have passed since the last drawing (drawing takes seconds; a run of sub-second epochs would spend most of its
time on it) and always at the end. The CSV has one row per (step, key, value); both files are written
atomically, and a resumed run continues them.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from pathlib import Path

from mmengine.hooks import Hook

from cxrdet.engines.runner.hooks import epoch_based, steps_done
from cxrdet.registry import HOOKS

log = logging.getLogger(__name__)


def _number(value) -> float | None:
    try:
        value = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@HOOKS.register_module()
class TrainingCurvesHook(Hook):
    """Draws the run's training and validation curves into its work_dir.

    Args:
        filename: the PNG's name inside the run's ``work_dir`` (the CSV takes the same stem).
        interval: iterations per point when the loop is iteration-based (epoch-based loops: one per epoch).
        min_seconds: least time between two drawings of the PNG during training (0: after every validation).
    """

    priority = "LOW"

    def __init__(self, filename: str = "training_curves.png", interval: int = 50, min_seconds: float = 30.0) -> None:
        self.filename = filename
        self.interval = max(1, int(interval))
        self.min_seconds = float(min_seconds)
        self._drawn_at = time.monotonic()
        self.history: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def before_train(self, runner) -> None:
        """A resumed run continues the curves of the run it resumes (the CSV's points up to where it restarts)."""
        csv = Path(runner.work_dir) / Path(self.filename).with_suffix(".csv").name
        if not csv.is_file():
            return
        import pandas as pd

        done = steps_done(runner)
        if done == 0:
            return
        try:
            frame = pd.read_csv(csv)
        except (OSError, ValueError) as err:
            log.warning("%s: not continued (%s)", csv, err)
            return
        for row in frame.itertuples(index=False):
            if int(row.step) <= done:
                self.history[str(row.key)].append((int(row.step), float(row.value)))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        for key, value in (outputs or {}).items():
            number = _number(value)
            if number is not None:
                self._sums[key] += number
                self._counts[key] += 1
        if not epoch_based(runner) and (runner.iter + 1) % self.interval == 0:
            self._flush(runner.iter + 1)

    def _flush(self, step: int) -> None:
        for key, total in self._sums.items():
            self.history[f"train/{key}"].append((step, total / max(1, self._counts[key])))
        self._sums.clear()
        self._counts.clear()

    def after_train_epoch(self, runner) -> None:
        self._flush(int(runner.epoch) + 1)  # mmengine counts the epoch as done after this hook

    def after_val_epoch(self, runner, metrics=None) -> None:
        step = steps_done(runner)
        for key, value in (metrics or {}).items():
            number = _number(value)
            if number is not None:
                self.history[f"val/{key}"].append((step, number))
        self._write(runner, draw=time.monotonic() - self._drawn_at >= self.min_seconds)

    def after_train(self, runner) -> None:
        self._write(runner, draw=True)

    def _write(self, runner, draw: bool) -> None:
        from mmengine.dist import is_main_process

        from cxrdet.evaluation.curves import plot_training_curves
        from cxrdet.io.atomic import write_csv

        if not is_main_process() or not self.history:
            return
        import pandas as pd

        out = Path(runner.work_dir) / self.filename
        rows = [(step, key, value) for key, points in self.history.items() for step, value in points]
        write_csv(out.with_suffix(".csv"), pd.DataFrame(rows, columns=["step", "key", "value"]), index=False)
        if draw:
            plot_training_curves(dict(self.history), out, title=str(getattr(runner, "experiment_name", "")))
            self._drawn_at = time.monotonic()
