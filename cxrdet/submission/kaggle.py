"""Submission, last step: a BoxTable in original pixels -> the Kaggle CSV, one row per sample image, in order."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.prediction_strings import EMPTY_PREDICTION, format_prediction_strings, write_kaggle_rows
from cxrdet.io.tables import columns_error, read_csv_table, record_lines
from cxrdet.structures import BoxTable

log = logging.getLogger(__name__)


def read_sample_ids(path: str | os.PathLike) -> pd.Index:
    """The ``image_id`` column of a sample submission, in order.

    Raises:
        InputError: unreadable file, no ``image_id`` column (or two), empty or duplicate ids, no id at all.
    """
    frame = read_csv_table(path, "sample submission", dtype=str, keep_default_na=False)
    if "image_id" not in frame.columns:
        raise columns_error(
            path, list(frame.columns), ["image_id"], "image_id,PredictionString", ("image_id", "PredictionString")
        )
    ids = frame["image_id"].str.strip()
    for mask, reason in ((ids == "", "empty image_id"), (ids.duplicated(), "image_id listed twice")):
        if mask.any():
            line = record_lines(path, len(frame))[int(mask.to_numpy().argmax())]
            raise InputError(path, f"{reason} ({int(mask.sum())} rows)", row=int(line))
    if ids.empty:
        raise InputError(path, "the sample submission lists no image")
    return pd.Index(ids, name="image_id")


def build_submission(table: BoxTable, sample_ids: Iterable[str], *, allow_missing: bool = False) -> pd.DataFrame:
    """Rows ``image_id, PredictionString`` for exactly the sample's images, in the sample's order.

    Args:
        table: predictions in ORIGINAL pixels (all boxes are written, whatever their score).
        sample_ids: the sample submission's ids.
        allow_missing: sample images absent from ``table.images`` get ``14 1 0 0 1 1`` instead of an error.

    Raises:
        InputError: predictions for images outside the sample (wrong split), or sample images without any
            entry in the prediction table (unless ``allow_missing``).
    """
    ids = pd.Index(pd.Series(list(sample_ids), dtype=str), name="image_id")
    source = table.source or "predictions"
    extra = table.images.index.difference(ids)
    if len(extra):
        raise InputError(
            source, f"{len(extra)} images are not in the sample submission (first: {extra[0]}); is this the test split?"
        )
    missing = ids.difference(table.images.index)
    if len(missing):
        msg = f"{len(missing)} sample images have no entry in the predictions (first: {missing[0]})"
        if not allow_missing:
            raise InputError(
                source, msg + f"; predict them, or allow missing images to submit them as '{EMPTY_PREDICTION}'"
            )
        log.warning("%s: %s; written as '%s'", source, msg, EMPTY_PREDICTION)
    strings = format_prediction_strings(table.subset(ids)).reindex(ids)
    log.info(
        "submission: %d images, %d boxes, %d images without boxes",
        len(ids),
        len(table),
        int((strings == EMPTY_PREDICTION).sum()),
    )
    return pd.DataFrame({"image_id": ids.to_numpy(), "PredictionString": strings.to_numpy()})


def write_submission(frame: pd.DataFrame, path: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Writes the submission CSV atomically; refuses to replace an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(path, "exists already; choose another output or pass --overwrite")
    write_kaggle_rows(frame["image_id"].astype(str), frame["PredictionString"].astype(str), path)
