"""YOLO engine, out-of-fold predictions: a fold's validation images predicted by its model, and all folds stacked."""

from __future__ import annotations

import logging
from pathlib import Path

from cxrdet.engines.yolo.dataset import Dataset

log = logging.getLogger(__name__)


def write_oof(weights: Path, val_list: Path, out: Path, predict_cfg: dict) -> Path:
    """Predicts a fold's validation PNGs with ``weights`` and writes them (original pixels) to ``out``,
    with ``OUT.classes.json`` (the checkpoint's class list) beside it.

    Raises:
        ConfigError: ``predict_cfg["no_finding"]`` for a data set without a "no finding" class.
    """
    from cxrdet.engines.yolo.predict import PredictOptions, append_no_finding, predict
    from cxrdet.errors import ConfigError
    from cxrdet.io.metainfo import write_companion
    from cxrdet.io.predictions import write_predictions
    from cxrdet.io.sources import find_sources

    options = {k: v for k, v in predict_cfg.items() if k != "no_finding"}
    result = predict(weights, find_sources(val_list), PredictOptions(progress=False, **options))
    table = result.table
    if predict_cfg.get("no_finding"):
        if result.meta.no_finding is None:
            raise ConfigError(
                f"predict.no_finding=True: {weights} predicts a data set without a 'no finding' "
                "class; set predict.no_finding=False"
            )
        table = append_no_finding(table, result.meta)
    write_predictions(table, out)
    write_companion(out, result.meta)
    log.info("out-of-fold predictions: %d boxes on %d images -> %s", len(table), len(table.images), out)
    return out


def combine_oof(work_dir: Path, dataset: Dataset) -> Path | None:
    """``work_dir/oof.csv``: every fold's OOF file stacked (one model's predictions on every training image).

    Written once all folds of ``dataset`` have their ``oof_foldK.csv`` (trained now or in earlier runs);
    that is the per-model file ``cxrdet tune-ensemble`` compares models with.
    """
    from cxrdet.io.metainfo import companion_path
    from cxrdet.io.predictions import read_table, write_predictions
    from cxrdet.structures import BoxTable

    files = [work_dir / f"oof_fold{k}.csv" for k in dataset.folds]
    if not files or not all(f.is_file() for f in files):
        return None
    from cxrdet.io.metainfo import meta_for, write_companion

    out = work_dir / "oof.csv"
    meta = meta_for(files)  # the folds' OOF.classes.json (one data set), else the convert folder's
    meta = meta if any(companion_path(f).is_file() for f in files) else dataset.meta
    write_predictions(BoxTable.concat([read_table(f) for f in files], source=str(out)), out)
    write_companion(out, meta)
    log.info("out-of-fold predictions of all %d folds -> %s", len(files), out)
    return out
