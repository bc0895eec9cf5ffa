"""Evaluation, reporting: training curves of a run (loss and metrics per epoch, training and validation) as a PNG.

The history is plain data (``{"train/loss": [(epoch, value), ...], "val/cls/accuracy": [...]}``) that
:class:`cxrdet.engines.runner.curves.TrainingCurvesHook` collects from mmengine's Runner. Quantities that
share a name after their ``train/`` / ``val/`` prefix and metric prefix (``loss``, ``accuracy``) are drawn
in one panel, training and validation together, as the fracture write-up's loss and accuracy graphs.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from pathlib import Path

from cxrdet.io.atomic import atomic_path

log = logging.getLogger(__name__)


def quantity(key: str) -> tuple[str, str]:
    """``"train/loss"`` -> ``("loss", "train")``; ``"val/cls/accuracy"`` -> ``("accuracy", "val")``."""
    phase, _, rest = key.partition("/")
    return rest.rpartition("/")[2], phase


def plot_training_curves(history: dict[str, list[tuple[int, float]]], out: str | os.PathLike, title: str = "") -> Path:
    """Writes one panel per quantity (loss, accuracy, ...), one line per phase, epochs on the x axis.

    Args:
        history: key -> (epoch, value) pairs; keys ``train/<name>`` or ``val/<prefix>/<name>``.
        out: the PNG to write (replaced atomically).
        title: the figure's title (e.g. the config and split).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(dict)
    for key, points in history.items():
        if points:
            name, phase = quantity(key)
            panels[name][phase] = sorted(points)
    names = sorted(panels, key=lambda n: (not n.startswith("loss"), n)) or ["loss"]
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for phase, points in sorted(panels.get(name, {}).items(), reverse=True):  # train first
            epochs, values = zip(*points)
            ax.plot(epochs, values, marker="o" if len(points) < 30 else None, ms=3, label=phase)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        if ax.lines:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    log.debug("training curves -> %s", out)
    return out
