"""Evaluation, reporting: the bone-age error per age group as a bar chart (``age_group_error.png``).

Drawn with matplotlib's object API on an Agg canvas (no global backend switch, no pyplot state, the
bundled DejaVu font only), written atomically.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from cxrdet.evaluation.regression import AgeGroupError
from cxrdet.io.atomic import atomic_path

log = logging.getLogger(__name__)

AGE_GROUP_PLOT = "age_group_error.png"


def plot_age_group_error(
    groups: Sequence[AgeGroupError], out_path: str | os.PathLike, overall_mad: float | None = None
) -> Path:
    """Bar chart of the MAD (months) per age group, each bar labelled with its image count.

    Args:
        groups: from :func:`cxrdet.evaluation.regression.age_group_errors`.
        out_path: the PNG to write (folders created; an existing file is replaced).
        overall_mad: drawn as a dashed line when given.

    Returns:
        The written path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out_path)
    fig = Figure(figsize=(max(4.0, 0.45 * len(groups) + 2.0), 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if groups:
        centres = [(g.low_years + g.high_years) / 2 for g in groups]
        width = 0.8 * (groups[0].high_years - groups[0].low_years)
        bars = ax.bar(centres, [g.mad_months for g in groups], width=width, color="C0")
        for bar, g in zip(bars, groups):
            ax.annotate(
                f"n={g.count}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.set_xticks([g.low_years for g in groups] + [groups[-1].high_years])
        top = max([g.mad_months for g in groups] + [overall_mad or 0.0])
        ax.set_ylim(0, 1.25 * top if top == top and top > 0 else 1.0)  # room for the counts and the legend
    else:
        ax.text(0.5, 0.5, "no images", ha="center", va="center", transform=ax.transAxes)
    if overall_mad is not None and overall_mad == overall_mad:
        ax.axhline(overall_mad, color="C3", ls="--", lw=1, label=f"overall MAD {overall_mad:.2f} months")
        ax.legend(loc="upper right", fontsize=7)
    ax.set_xlabel("true bone age (years)")
    ax.set_ylabel("MAD (months)")
    ax.set_title("bone age error per age group", fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100)
    log.info("wrote %s", out)
    return out
