"""Submission, optional step: fuse a normal/abnormal classifier into the detections as class 14 "No finding".

``append`` (default, what the top teams did): every image gets ``14 p_normal 0 0 1 1``; this never lowers the
finding classes' AP and scores class 14 well. ``two-threshold`` (public notebooks): ``p_abnormal < low`` ->
all boxes replaced by ``14 1 0 0 1 1``; ``low <= p_abnormal < high`` -> ``14 p_normal 0 0 1 1`` appended;
otherwise the image is left as it is. Class 14 boxes the detector made itself are replaced by the
classifier's wherever the classifier's box is added.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.tables import columns_error, read_csv_table, record_lines
from cxrdet.structures import BoxTable
from cxrdet.vindr import BOX_COLUMNS, NO_FINDING, NO_FINDING_BOX

log = logging.getLogger(__name__)

RULES = ("append", "two-threshold")


def read_normal_probs(path: str | os.PathLike) -> pd.Series:
    """Reads ``image_id`` + ``p_normal`` (or ``p_abnormal``, converted) -> Series of p_normal by image_id.

    Raises:
        InputError: unreadable file, missing or repeated columns, no row, empty or duplicate ids, values that
            are not numbers in [0, 1] (with line).
    """
    frame = read_csv_table(path, "normal-probability CSV", dtype=str, keep_default_na=False)
    column = next((c for c in ("p_normal", "p_abnormal") if c in frame.columns), None)
    if "image_id" not in frame.columns or column is None:
        raise columns_error(
            path,
            list(frame.columns),
            [c for c in ("image_id", "p_normal") if c not in frame.columns],
            "image_id and p_normal (or p_abnormal)",
            ("image_id", "p_normal", "p_abnormal"),
        )
    if frame.empty:
        raise InputError(path, "has a header but no rows")
    if "p_normal" in frame.columns and "p_abnormal" in frame.columns:
        log.warning("%s: has p_normal and p_abnormal; using p_normal", path)
    values = pd.to_numeric(frame[column].str.strip().replace("", None), errors="coerce").to_numpy(np.float64)
    ids = frame["image_id"].str.strip()
    for mask, reason in (
        ((ids == "").to_numpy(), "empty image_id"),
        (~np.isfinite(values) | (values < 0) | (values > 1), f"{column} must be a number in [0, 1]"),
        (ids.duplicated().to_numpy(), "image_id listed twice"),
    ):
        if mask.any():
            line = record_lines(path, len(frame))[int(np.argmax(mask))]
            raise InputError(path, f"{reason} ({int(mask.sum())} rows)", row=int(line))
    p_normal = values if column == "p_normal" else 1.0 - values
    return pd.Series(p_normal, index=pd.Index(ids, name="image_id"), name="p_normal")


def _no_finding_rows(ids: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": ids,
            "class_id": NO_FINDING,
            "score": scores,
            **{c: v for c, v in zip(BOX_COLUMNS, NO_FINDING_BOX)},
        }
    )


def apply_normal_gating(
    table: BoxTable,
    p_normal: pd.Series,
    rule: str = "append",
    low: float = 0.08,
    high: float = 0.95,
    source: str = "normal probabilities",
) -> BoxTable:
    """Adds the classifier's class-14 predictions to ``table`` (see module docstring for the rules).

    Args:
        table: detections in original pixels.
        p_normal: probability that each image is normal, indexed by image_id (must cover every image).
        rule: ``"append"`` or ``"two-threshold"``.
        low, high: thresholds on ``p_abnormal = 1 - p_normal`` for ``two-threshold``.
        source: name of the probabilities' file, for messages.

    Raises:
        InputError: an image of ``table`` has no probability.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got low={low}, high={high}")
    ids = table.images.index
    missing = ids.difference(p_normal.index)
    if len(missing):
        raise InputError(source, f"no probability for {len(missing)} images (first: {missing[0]})")
    p = p_normal.reindex(ids).to_numpy(np.float64)
    abnormal = 1.0 - p
    if rule == "append":
        replace, append = np.zeros(len(ids), bool), np.ones(len(ids), bool)
    else:
        replace, append = abnormal < low, (abnormal >= low) & (abnormal < high)
    boxes = table.boxes
    touched = pd.Index(ids[replace | append])
    in_touched = boxes["image_id"].isin(touched).to_numpy()
    drop = boxes["image_id"].isin(pd.Index(ids[replace])).to_numpy() | (
        in_touched & (boxes["class_id"].to_numpy() == NO_FINDING)
    )
    if (in_touched & (boxes["class_id"].to_numpy() == NO_FINDING)).any():
        log.info(
            "replaced the detector's own class-14 boxes on %d images by the classifier's",
            boxes.loc[in_touched & (boxes["class_id"] == NO_FINDING).to_numpy(), "image_id"].nunique(),
        )
    added = pd.concat(
        [
            _no_finding_rows(ids[replace].to_numpy(), np.ones(int(replace.sum()))),
            _no_finding_rows(ids[append].to_numpy(), p[append]),
        ],
        ignore_index=True,
    )
    log.info(
        "normal gating (%s): %d images set to '14 1 0 0 1 1', %d got '14 p_normal 0 0 1 1', %d unchanged",
        rule,
        int(replace.sum()),
        int(append.sum()),
        int((~replace & ~append).sum()),
    )
    return BoxTable(pd.concat([boxes[~drop], added], ignore_index=True), table.images, table.source)
