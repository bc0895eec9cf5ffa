"""YOLO engine, out-of-fold predictions: a fold's validation images predicted by its model, and all folds stacked."""

from __future__ import annotations

import logging
from pathlib import Path

from cxrdet.engines.yolo.dataset import Dataset

log = logging.getLogger(__name__)


def write_oof(weights: Path, val_list: Path, out: Path, predict_cfg: dict) -> Path:
    """Predicts a fold's validation PNGs with ``weights`` and writes them (original pixels) to ``out``."""
    from cxrdet.engines.yolo.predict import PredictOptions, append_no_finding, predict
    from cxrdet.io.predictions import write_predictions
    from cxrdet.io.sources import find_sources

    options = {k: v for k, v in predict_cfg.items() if k != "no_finding"}
    result = predict(weights, find_sources(val_list), PredictOptions(progress=False, **options))
    table = append_no_finding(result.table) if predict_cfg.get("no_finding") else result.table
    write_predictions(table, out)
    log.info("out-of-fold predictions: %d boxes on %d images -> %s", len(table), len(table.images), out)
    return out


def combine_oof(work_dir: Path, dataset: Dataset) -> Path | None:
    """``work_dir/oof.csv``: every fold's OOF file stacked (one model's predictions on every training image).

    Written once all folds of ``dataset`` have their ``oof_foldK.csv`` (trained now or in earlier runs);
    that is the per-model file ``cxrdet tune-ensemble`` compares models with.
    """
    from cxrdet.io.predictions import read_table, write_predictions
    from cxrdet.structures import BoxTable

    files = [work_dir / f"oof_fold{k}.csv" for k in dataset.folds]
    if not files or not all(f.is_file() for f in files):
        return None
    out = work_dir / "oof.csv"
    write_predictions(BoxTable.concat([read_table(f) for f in files], source=str(out)), out)
    log.info("out-of-fold predictions of all %d folds -> %s", len(files), out)
    return out
