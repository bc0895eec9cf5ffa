"""VinDr ``train.csv`` in: read it, and check every row (class, coordinates, image, bounds) with its line number.

Rows that cannot be used are rejected and reported; boxes reaching outside their image are clipped to it
and reported as a warning. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.tables import MAX_PIXELS, read_csv_table, record_lines
from cxrdet.vindr import BOX_COLUMNS, LABEL_COLUMNS, NO_FINDING, NUM_CLASSES

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("image_id", "class_id", "x_min", "y_min", "x_max", "y_max")


@dataclass(frozen=True)
class LabelProblem:
    """One reported row: ``line`` is the 1-based line in the CSV (the header is line 1)."""

    line: int
    image_id: str
    problem: str
    action: str  # "rejected" or "clipped"


def problems_frame(problems: list[LabelProblem]) -> pd.DataFrame:
    """Problems as a table (columns line, image_id, problem, action), sorted by line."""
    frame = pd.DataFrame([p.__dict__ for p in problems], columns=["line", "image_id", "problem", "action"])
    return frame.sort_values("line", kind="stable").reset_index(drop=True)


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """Read a VinDr labels CSV; adds a ``line`` column (file line of each row, blank lines counted).

    Bad values are not checked here but by :func:`validate_rows`, which rejects their rows.

    Raises:
        InputError: unreadable file (missing, a directory, binary, not UTF-8, a row with too many fields, an
            unclosed quote), missing or repeated columns, or no label row.
    """
    frame = read_csv_table(path, "labels CSV", dtype={"image_id": str, "class_name": str, "rad_id": str})
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; expected {list(LABEL_COLUMNS)}", row=1)
    if frame.empty:
        raise InputError(path, "has a header but no label rows")
    if "rad_id" not in frame.columns:
        frame["rad_id"] = "R?"
    frame["line"] = record_lines(path, len(frame))
    return frame


def _reject(frame: pd.DataFrame, mask: np.ndarray, reason: str, out: list[LabelProblem]) -> np.ndarray:
    for line, image_id in zip(frame.loc[mask, "line"], frame.loc[mask, "image_id"]):
        out.append(LabelProblem(int(line), str(image_id), reason, "rejected"))
    return mask


def validate_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[LabelProblem]]:
    """Reject rows with a bad class, bad coordinates or a box whose max is below its min.

    Rejected: an empty image_id; a class_id that is not an integer in 0..14; for a finding, a coordinate that
    is empty, not a number, infinite or beyond ``MAX_PIXELS``, an inverted or a zero-area box.

    Returns the usable rows (class_id int64, coordinates float64; "No finding" rows keep NaN boxes) and
    the problems found.
    """
    problems: list[LabelProblem] = []
    class_id = pd.to_numeric(frame["class_id"], errors="coerce")
    coords = frame[list(BOX_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = np.zeros(len(frame), bool)
    empty_id = frame["image_id"].isna().to_numpy() | (frame["image_id"].astype(str).str.strip() == "").to_numpy()
    bad |= _reject(frame, empty_id, "empty image_id", problems)
    known = class_id.notna() & (class_id == class_id.round()) & class_id.between(0, NUM_CLASSES - 1)
    bad |= _reject(frame, ~known.to_numpy() & ~bad, f"unknown class_id (expected 0..{NUM_CLASSES - 1})",
                   problems)
    finding = known.to_numpy() & (class_id.to_numpy() != NO_FINDING)
    nonfinite = finding & ~np.isfinite(coords).all(axis=1)
    bad |= _reject(frame, nonfinite & ~bad, "missing or non-numeric box coordinate", problems)
    huge = finding & ~bad & (np.abs(coords) > MAX_PIXELS).any(axis=1)
    bad |= _reject(frame, huge, f"box coordinate beyond ±{MAX_PIXELS:.0f} pixels", problems)
    inverted = finding & ~bad & ((coords[:, 2] < coords[:, 0]) | (coords[:, 3] < coords[:, 1]))
    bad |= _reject(frame, inverted, "x_max < x_min or y_max < y_min", problems)
    empty = finding & ~bad & ((coords[:, 2] == coords[:, 0]) | (coords[:, 3] == coords[:, 1]))
    bad |= _reject(frame, empty, "zero-area box", problems)
    good = frame.loc[~bad].copy()
    good["class_id"] = class_id[~bad].astype(np.int64)
    good[list(BOX_COLUMNS)] = coords[~bad]
    return good, problems


def check_images(
    frame: pd.DataFrame, sizes: dict[str, tuple[int, int]], failed: set[str] | None = None
) -> tuple[pd.DataFrame, list[LabelProblem]]:
    """Reject rows whose image is missing (or failed to convert); clip boxes to their image.

    Args:
        frame: rows from :func:`validate_rows`.
        sizes: image_id -> (height, width) in original pixels, for every converted image.
        failed: image ids whose DICOM could not be converted.
    """
    failed = failed or set()
    problems: list[LabelProblem] = []
    in_failed = frame["image_id"].isin(failed).to_numpy()
    _reject(frame, in_failed, "image failed to convert (see failures.csv)", problems)
    missing = ~frame["image_id"].isin(sizes.keys()).to_numpy() & ~in_failed
    _reject(frame, missing, "image not found in the DICOM folder", problems)
    frame = frame.loc[~in_failed & ~missing].copy()
    finding = (frame["class_id"] != NO_FINDING).to_numpy()
    hw = np.array([sizes[i] for i in frame["image_id"]], dtype=np.float64).reshape(-1, 2)
    coords = frame[list(BOX_COLUMNS)].to_numpy(np.float64, copy=True)
    limits = np.stack([hw[:, 1], hw[:, 0], hw[:, 1], hw[:, 0]], axis=1)
    clipped = np.clip(coords, 0.0, limits)
    vanished = finding & ((clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1]))
    outside = finding & ~vanished & (np.abs(clipped - coords) > 0).any(axis=1)
    for line, image_id in zip(frame.loc[outside, "line"], frame.loc[outside, "image_id"]):
        problems.append(LabelProblem(int(line), str(image_id), "box outside the image", "clipped"))
    _reject(frame, vanished, "box entirely outside the image", problems)
    coords[finding] = clipped[finding]
    frame[list(BOX_COLUMNS)] = coords
    if outside.any():
        log.warning("%d box(es) reached outside their image and were clipped", int(outside.sum()))
    return frame.loc[~vanished], problems
