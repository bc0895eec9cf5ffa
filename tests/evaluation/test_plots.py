"""PR-curve plots: one PNG per class plus an overview, written without touching the global backend at import."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from cxrdet.evaluation.plots import plot_pr_curves
from cxrdet.evaluation.voc import vindr_map
from cxrdet.structures import BoxTable


def test_pngs_for_every_class(tmp_path):
    cols = ["image_id", "class_id", "score", "x_min", "y_min", "x_max", "y_max"]
    gt = BoxTable(pd.DataFrame([("a", 0, 1.0, 0, 0, 10, 10), ("a", 14, 1.0, 0, 0, 1, 1)], columns=cols))
    pred = BoxTable(pd.DataFrame([("a", 0, 0.9, 0, 0, 10, 10), ("a", 0, 0.5, 20, 20, 30, 30)], columns=cols))
    paths = plot_pr_curves(vindr_map(gt, pred), tmp_path / "plots")
    assert len(paths) == 16 and paths[-1].name == "pr_all.png"
    assert paths[8].name == "pr_08_nodule_mass.png"
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_import_leaves_matplotlib_alone():
    code = "import sys, cxrdet.evaluation.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
