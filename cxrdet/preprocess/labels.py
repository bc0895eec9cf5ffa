"""Preprocessing, labels: read a VinDr-layout ``train.csv``, derive its class list, check every row with its line.

The labels keep the VinDr CSV layout with any class names: :func:`derive_meta` takes the class list from the
``class_id`` / ``class_name`` pairs (VinDr's own when they match it). Rows that cannot be used are rejected and
reported (an unknown class, a ``class_name`` that contradicts its ``class_id``, an exact duplicate row, bad
coordinates); boxes reaching outside their image are clipped to it and reported as a warning. Nothing is
dropped silently.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.tables import MAX_PIXELS, read_csv_table, record_lines
from cxrdet.structures import BOX_COLUMNS, VINDR, DatasetMeta
from cxrdet.vindr import LABEL_COLUMNS

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("image_id", "class_id", "x_min", "y_min", "x_max", "y_max")
MAX_CLASSES = 1000
"""Largest number of classes a labels file may define (a class_id beyond is a typo or garbage)."""
NO_FINDING_NAME = "no finding"
"""The class name (compared without case) that marks an image-level "no finding" class."""


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


def _class_ids(frame: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(frame["class_id"], errors="coerce")


def _names(frame: pd.DataFrame) -> pd.Series | None:
    if "class_name" not in frame.columns:
        return None
    return frame["class_name"].fillna("").astype(str).str.strip()


def derive_meta(frame: pd.DataFrame, source: str | os.PathLike = "labels") -> DatasetMeta:
    """The data set's class list from the labels' ``class_id`` / ``class_name`` pairs.

    Each class id is named by the name most of its rows give (first seen on a tie); ids that no row names
    are called ``class <id>``. When every named id carries VinDr's name (and no id exceeds 14) the result is
    :data:`~cxrdet.structures.VINDR` itself; without a ``class_name`` column, labels with ids 0..14 are VinDr.
    The class named "No finding" (any case) is the "no finding" class.

    Args:
        frame: rows from :func:`read_labels` (before :func:`validate_rows`).
        source: the labels file, for messages.

    Raises:
        InputError: no usable class id, or two class ids carry the same name.
    """
    ids = _class_ids(frame)
    usable = (ids.notna() & (ids == ids.round()) & (ids >= 0) & (ids < MAX_CLASSES)).to_numpy()
    if not usable.any():
        raise InputError(source, f"no row has a class_id that is an integer in 0..{MAX_CLASSES - 1}")
    ids = ids[usable].astype(np.int64)
    top = int(ids.max())
    names = _names(frame)
    if names is None:
        if top < VINDR.num_classes:
            return VINDR
        return DatasetMeta(tuple(f"class {i}" for i in range(top + 1)))
    pairs = pd.DataFrame({"id": ids.to_numpy(), "name": names[usable].to_numpy()})
    pairs = pairs[pairs["name"] != ""]
    counts = pairs.groupby(["id", "name"], sort=False).size().reset_index(name="n")
    best = counts.sort_values("n", ascending=False, kind="stable").drop_duplicates("id")
    chosen = dict(zip(best["id"], best["name"]))
    if top < VINDR.num_classes and all(VINDR.classes[i] == n for i, n in chosen.items()):
        return VINDR
    classes = tuple(chosen.get(i, f"class {i}") for i in range(top + 1))
    twice = pd.Series(classes)[pd.Series(classes).duplicated()]
    if len(twice):
        raise InputError(
            source,
            f"two class_ids are both named by their rows' majority as the same class "
            f"(class_id {int(twice.index[0])}); fix the class_name column",
        )
    lowered = [c.lower() for c in classes]
    return DatasetMeta(classes, lowered.index(NO_FINDING_NAME) if NO_FINDING_NAME in lowered else None)


def validate_rows(frame: pd.DataFrame, meta: DatasetMeta = VINDR) -> tuple[pd.DataFrame, list[LabelProblem]]:
    """Reject rows with a bad class, a contradictory class name, a duplicate, or bad coordinates.

    Rejected: an empty image_id; a class_id that is not an integer in ``0..meta.num_classes - 1``; a
    ``class_name`` that is none of the data set's names, or the name of another class than its class_id; a
    row identical to an earlier one (all its fields); for a finding, a coordinate that is empty, not a
    number, infinite or beyond ``MAX_PIXELS``, an inverted or a zero-area box.

    Args:
        frame: rows from :func:`read_labels`.
        meta: the data set (see :func:`derive_meta`).

    Returns the usable rows (class_id int64, coordinates float64; "No finding" rows keep NaN boxes) and
    the problems found.
    """
    problems: list[LabelProblem] = []
    top = meta.num_classes - 1
    class_id = _class_ids(frame)
    coords = frame[list(BOX_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = np.zeros(len(frame), bool)
    empty_id = frame["image_id"].isna().to_numpy() | (frame["image_id"].astype(str).str.strip() == "").to_numpy()
    bad |= _reject(frame, empty_id, "empty image_id", problems)
    known = class_id.notna() & (class_id == class_id.round()) & class_id.between(0, top)
    bad |= _reject(frame, ~known.to_numpy() & ~bad, f"unknown class_id (expected 0..{top})", problems)
    names = _names(frame)
    if names is not None:
        index = {n: i for i, n in enumerate(meta.classes)}
        named = (names != "").to_numpy()
        position = names.map(index)
        unknown = named & position.isna().to_numpy()
        bad |= _reject(
            frame,
            unknown & ~bad,
            f"unknown class_name (not one of the {meta.num_classes} class names of this data set, see classes.json)",
            problems,
        )
        expected = np.where(known.to_numpy(), class_id.fillna(-1).to_numpy(), -1)
        clash = named & ~unknown & ~bad & (position.fillna(-1).to_numpy() != expected)
        for line, image_id, pos, cid in zip(
            frame.loc[clash, "line"], frame.loc[clash, "image_id"], position[clash], class_id[clash]
        ):
            problems.append(
                LabelProblem(
                    int(line),
                    str(image_id),
                    f"class_name is the name of class {int(pos)}, not of class_id {int(cid)}",
                    "rejected",
                )
            )
        bad |= clash
    keys = frame[[c for c in frame.columns if c != "line"]].astype(str)
    duplicate = keys.duplicated(keep="first").to_numpy() & ~bad
    if duplicate.any():
        group = keys.groupby(list(keys.columns), sort=False, dropna=False).ngroup().to_numpy()
        firsts = frame["line"].groupby(group).transform("min").to_numpy()
        for line, image_id, first in zip(
            frame.loc[duplicate, "line"], frame.loc[duplicate, "image_id"], firsts[duplicate]
        ):
            problems.append(LabelProblem(int(line), str(image_id), f"exact duplicate of line {int(first)}", "rejected"))
        bad |= duplicate
    no_finding = -1 if meta.no_finding is None else meta.no_finding
    finding = known.to_numpy() & (class_id.to_numpy() != no_finding)
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
    frame: pd.DataFrame,
    sizes: dict[str, tuple[int, int]],
    failed: set[str] | None = None,
    meta: DatasetMeta = VINDR,
) -> tuple[pd.DataFrame, list[LabelProblem]]:
    """Reject rows whose image is missing (or failed to convert); clip boxes to their image.

    Args:
        frame: rows from :func:`validate_rows`.
        sizes: image_id -> (height, width) in original pixels, for every converted image.
        failed: image ids whose DICOM could not be converted.
        meta: the data set (its "no finding" rows have no box to clip).
    """
    failed = failed or set()
    problems: list[LabelProblem] = []
    in_failed = frame["image_id"].isin(failed).to_numpy()
    _reject(frame, in_failed, "image failed to convert (see failures.csv)", problems)
    missing = ~frame["image_id"].isin(sizes.keys()).to_numpy() & ~in_failed
    _reject(frame, missing, "image not found in the DICOM folder", problems)
    frame = frame.loc[~in_failed & ~missing].copy()
    finding = (frame["class_id"] != (-1 if meta.no_finding is None else meta.no_finding)).to_numpy()
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
