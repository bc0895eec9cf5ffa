"""Evaluation, reporting: per-class precision-recall curves of a VinDr mAP result as PNG files."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from cxrdet.evaluation.voc import VocResult
from cxrdet.io.atomic import atomic_path

log = logging.getLogger(__name__)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _draw(ax, curve, title: str) -> None:
    if curve is not None and len(curve.recall) and not np.isnan(curve.recall).all():
        envelope = np.maximum.accumulate(curve.precision[::-1])[::-1]
        ax.plot(curve.recall, curve.precision, color="0.7", lw=0.8, label="precision")
        ax.step(
            np.concatenate(([0.0], curve.recall)),
            np.concatenate(([envelope[0]], envelope)),
            where="pre",
            color="C0",
            lw=1.5,
            label="envelope (AP area)",
        )
    else:
        ax.text(
            0.5,
            0.5,
            "no predictions" if curve is None or not len(curve.recall) else "no ground truth",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title, fontsize=9)


def plot_pr_curves(result: VocResult, out_dir: str | os.PathLike) -> list[Path]:
    """Writes one PNG per class (``pr_<id>_<name>.png``) plus an overview grid ``pr_all.png``.

    Args:
        result: a :class:`VocResult` computed with ``curves=True``.
        out_dir: folder (created if needed); existing files of the same names are replaced.

    Returns:
        The written paths, overview last.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    rows = list(result.per_class.itertuples(index=False))
    titles = {r.class_id: f"{r.class_id} {r.class_name}: AP {r.ap:.3f} (GT {r.n_gt}, pred {r.n_pred})" for r in rows}
    for r in rows:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        _draw(ax, result.curves.get(r.class_id), titles[r.class_id])
        if ax.lines:
            ax.legend(loc="lower left", fontsize=7)
        path = out / f"pr_{r.class_id:02d}_{_slug(r.class_name)}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    cols = 5
    nrows = max(1, -(-len(rows) // cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 3 * nrows), squeeze=False)
    for ax, r in zip(axes.flat, rows):
        _draw(ax, result.curves.get(r.class_id), titles[r.class_id])
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    fig.suptitle(f"mAP@{result.iou_thr:g} = {result.map:.4f} ({result.match})")
    fig.tight_layout()
    path = out / "pr_all.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
    paths.append(path)
    log.info("wrote %d precision-recall plots to %s", len(paths), out)
    return paths
