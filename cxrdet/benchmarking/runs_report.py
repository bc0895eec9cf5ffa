"""Benchmarking, the table of finished runs (``cxrdet benchmark --runs``): sorted; markdown, CSV, JSON, a bar chart.

The rows are :func:`cxrdet.benchmarking.runs_table.read_run`'s. :func:`sort_runs` orders them by one column
(numbers high to low, text A to Z; ``ascending`` flips; missing values last), by default by the score a user
would compare submissions with: the recorded submission score, then the out-of-fold score, then the best
validation value. The bar chart shows the sort column (or that default score) for each run. Files are
written atomically (:mod:`cxrdet.io.atomic`), the chart with matplotlib's Agg canvas.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cxrdet.errors import ConfigError

FILES = ("runs.md", "runs.csv", "runs.json", "runs.png")
"""What :func:`write_runs_report` writes into its folder."""

COLUMNS = (
    "config",
    "engine",
    "model",
    "input_size",
    "splits",
    "epochs",
    "best_metric",
    "best_value",
    "best_epoch",
    "train_time_s",
    "conf_thr",
    "oof_metric",
    "oof_value",
    "submission",
    "run",
)
"""The table's columns (and the names ``--sort`` takes)."""
DEFAULT_SORT = "score"
"""The default order: submission score, else OOF score, else best validation value (high first)."""


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def default_score(row: dict[str, Any]) -> float | None:
    """The value runs are compared by: the submission score, else the OOF score, else the best validation value."""
    for key in ("submission", "oof_value", "best_value"):
        if not _missing(row.get(key)):
            return float(row[key])
    return None


def score_source(row: dict[str, Any]) -> str | None:
    """What :func:`default_score` took: ``submission``, the OOF metric's name or the best validation metric's."""
    for key, name in (
        ("submission", "submission"),
        ("oof_value", row.get("oof_metric")),
        ("best_value", row.get("best_metric")),
    ):
        if not _missing(row.get(key)):
            return str(name)
    return None


def sort_runs(rows: Sequence[dict[str, Any]], column: str = DEFAULT_SORT, ascending: bool = False) -> list[dict]:
    """``rows`` ordered by ``column`` (see the module docstring).

    Raises:
        ConfigError: an unknown column (with the known ones).
    """
    if column != DEFAULT_SORT and column not in COLUMNS:
        raise ConfigError(f"--sort {column!r}: expected one of {DEFAULT_SORT}, {', '.join(COLUMNS)}")

    def value(row: dict[str, Any]) -> Any:
        return default_score(row) if column == DEFAULT_SORT else row.get(column)

    known = [r for r in rows if not _missing(value(r))]
    unknown = [r for r in rows if _missing(value(r))]
    numeric = all(isinstance(value(r), (int, float)) for r in known)
    if numeric:
        known.sort(key=lambda r: float(value(r)), reverse=not ascending)
    else:
        known.sort(key=lambda r: str(value(r)), reverse=ascending)
    return known + unknown


def _fmt(value: Any, digits: int = 4) -> str:
    if _missing(value):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def runs_markdown(rows: Sequence[dict[str, Any]], column: str) -> str:
    """The text of ``runs.md``: the sorted table and where each figure comes from."""
    from cxrdet.benchmarking.report import markdown_table
    from cxrdet.benchmarking.runs_table import SCORE_FILE

    headers = [
        "#",
        "config",
        "engine",
        "model",
        "input",
        "splits",
        "epochs",
        "best val (metric)",
        "best epoch",
        "train time",
        "conf thr",
        "OOF score",
        "submission",
    ]
    lines = []
    for i, r in enumerate(rows, 1):
        minutes = "-" if _missing(r.get("train_time_s")) else f"{r['train_time_s'] / 60:.1f} min"
        best = "-" if _missing(r.get("best_value")) else f"{r['best_value']:.4f} ({r.get('best_metric')})"
        oof = "-" if _missing(r.get("oof_value")) else f"{r['oof_value']:.4f} ({r.get('oof_metric')})"
        scores = r.get("submission_scores") or {}
        sub = ", ".join(f"{k} {v:g}" for k, v in scores.items()) or "-"
        lines.append(
            [
                i,
                r["config"],
                r["engine"],
                r.get("model") or "-",
                _fmt(r.get("input_size")),
                r["splits"],
                _fmt(r.get("epochs")),
                best,
                r.get("best_epoch") or "-",
                minutes,
                _fmt(r.get("conf_thr"), 3),
                oof,
                sub,
            ]
        )
    order = "score (submission, else OOF, else best validation)" if column == DEFAULT_SORT else column
    return "\n".join(
        [
            "# cxrdet training runs",
            "",
            f"Sorted by {order}. Best val: the validation metric the run kept its best checkpoint by (mean over "
            "splits; best epoch per split). OOF score: the out-of-fold files scored against the data set's "
            f"ground truth. Submission: the scores recorded in the run's `{SCORE_FILE}`.",
            "",
            markdown_table(headers, lines),
            "",
        ]
    )


def plot_runs(rows: Sequence[dict[str, Any]], column: str, out: str | os.PathLike) -> Path:
    """``runs.png``: one horizontal bar a run (top: first in the table) of ``column`` (or the default score)."""
    from matplotlib.figure import Figure

    from cxrdet.io.atomic import atomic_path

    def value(row: dict[str, Any]) -> float | None:
        v = default_score(row) if column == DEFAULT_SORT else row.get(column)
        return float(v) if isinstance(v, (int, float)) and not _missing(v) else None

    shown = [(r["config"], value(r), score_source(r) if column == DEFAULT_SORT else None) for r in rows]
    shown = [s for s in shown if s[1] is not None]
    fig = Figure(figsize=(7.5, 1.2 + 0.4 * max(1, len(shown))))
    ax = fig.add_subplot(1, 1, 1)
    if shown:
        names, values, sources = zip(*shown)
        bars = ax.barh(range(len(values)), values)
        ax.set_yticks(range(len(values)), labels=names, fontsize=8)
        ax.invert_yaxis()
        for bar, v, source in zip(bars, values, sources):
            ax.annotate(
                f"{v:.4g}" + (f" ({source})" if source else ""),
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
    else:
        ax.text(0.5, 0.5, f"no run has a {column}", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("score (submission, else OOF, else best validation)" if column == DEFAULT_SORT else column)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")  # labels beyond the axes included
    return out


def write_runs_report(
    out_dir: str | os.PathLike,
    rows: Sequence[dict[str, Any]],
    column: str = DEFAULT_SORT,
    check: Callable[[Path], Path] | None = None,
) -> list[Path]:
    """Writes :data:`FILES` (rows as given: sort them first) into ``out_dir``; ``check`` guards each path first."""
    import pandas as pd

    from cxrdet.io.atomic import write_csv, write_text

    out_dir = Path(out_dir)
    paths = [out_dir / name for name in FILES]
    for path in paths:
        if check is not None:
            check(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv, js, png = paths
    write_text(md, runs_markdown(rows, column))
    frame = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], columns=list(COLUMNS))
    frame.insert(len(COLUMNS) - 1, "submission_scores", [json.dumps(r.get("submission_scores") or {}) for r in rows])
    write_csv(csv, frame)
    write_text(js, json.dumps({"sort": column, "runs": list(rows)}, indent=1))
    plot_runs(rows, column, png)
    return paths
