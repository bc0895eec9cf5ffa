"""Submission, final check: find EVERY problem of a Kaggle submission CSV (with its line) before uploading it.

Checks: header, field count per row, ids missing/extra/duplicate against the sample submission,
``PredictionString`` made of numeric sextuples ``class score x_min y_min x_max y_max``, class in 0..14 (an
integer), score in [0, 1], ``x_min <= x_max`` and ``y_min <= y_max``, boxes inside the image when its size
is known, and class-14 boxes equal to ``0 0 1 1`` (anything else cannot match the "No finding" ground truth).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.submission.kaggle import read_sample_ids
from cxrdet.vindr import NO_FINDING, NO_FINDING_BOX, NUM_CLASSES

HEADER = ["image_id", "PredictionString"]


@dataclass(frozen=True)
class Problem:
    """One problem; ``line`` is the 1-based file line (header = 1), None for file-level problems."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


def _which(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask) + 1
    shown = ", ".join(str(i) for i in idx[:10]) + (", ..." if len(idx) > 10 else "")
    return f"sextuple{'s' if len(idx) > 1 else ''} {shown}" + (f" ({len(idx)} in all)" if len(idx) > 10 else "")


def check_prediction_string(text: str, size: tuple[float, float] | None = None) -> list[str]:
    """Problems of one ``PredictionString`` (empty list when it is valid).

    Args:
        text: the string.
        size: ``(height, width)`` of the image when known, to check that boxes lie inside it.
    """
    tokens = text.split()
    if not tokens:
        return ["empty PredictionString (an image without findings is '14 1 0 0 1 1')"]
    if len(tokens) % 6:
        return [f"{len(tokens)} values, not a multiple of 6 (sextuples 'class score x_min y_min x_max y_max')"]
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        bad = [t for t in tokens if not _is_number(t)]
        return [f"not a number: {', '.join(repr(t) for t in bad[:5])}" + (" ..." if len(bad) > 5 else "")]
    v = values.reshape(-1, 6)
    checks = [
        (~np.isfinite(v).all(axis=1), "NaN or infinite value"),
        ((v[:, 0] != np.round(v[:, 0])) | (v[:, 0] < 0) | (v[:, 0] >= NUM_CLASSES),
         f"class is not an integer in 0..{NUM_CLASSES - 1}"),
        ((v[:, 1] < 0) | (v[:, 1] > 1), "confidence outside [0, 1]"),
        (v[:, 4] < v[:, 2], "x_min > x_max"),
        (v[:, 5] < v[:, 3], "y_min > y_max"),
        ((v[:, 0] == NO_FINDING) & (v[:, 2:] != np.array(NO_FINDING_BOX)).any(axis=1),
         "class 14 (No finding) box is not '0 0 1 1' and cannot match the ground truth"),
    ]
    if size is not None:
        h, w = size
        outside = (v[:, 2] < 0) | (v[:, 3] < 0) | (v[:, 4] > w) | (v[:, 5] > h)
        checks.append((outside & (v[:, 0] != NO_FINDING),
                       f"box outside the image (width {w:g}, height {h:g}; original pixels expected)"))
    return [f"{_which(mask)}: {reason}" for mask, reason in checks if mask.any()]


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def validate_submission(path: str | os.PathLike, sample_path: str | os.PathLike,
                        sizes: pd.DataFrame | None = None) -> list[Problem]:
    """All problems of a submission CSV (empty list: ready to upload).

    Args:
        path: the submission.
        sample_path: the competition's ``sample_submission.csv`` (defines the ids).
        sizes: optional frame indexed by image_id with ``height``, ``width`` (see :func:`cxrdet.io.sizes.read_sizes`).

    Raises:
        InputError: the file or the sample cannot be read at all.
    """
    sample = read_sample_ids(sample_path)
    in_sample = set(sample)
    size_of = {} if sizes is None else {str(k): (h, w) for k, h, w in
                                        zip(sizes.index, sizes["height"], sizes["width"])}
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                return [Problem(None, "empty file")]
            if [h.strip() for h in header] != HEADER:
                problems.append(Problem(1, f"header is {','.join(header)!r}, expected 'image_id,PredictionString'"))
            start = reader.line_num
            for row in reader:
                line = start + 1  # first line of this record (a quoted field may span lines)
                start = reader.line_num
                problems.extend(_check_row(row, line, in_sample, seen, size_of))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(path, f"cannot read: {err}") from None
    problems.extend(Problem(None, f"image {i} of the sample submission is missing") for i in sample
                    if i not in seen)
    return problems


def _check_row(row: list[str], line: int, in_sample: set, seen: dict, size_of: dict) -> list[Problem]:
    if not row or (len(row) == 1 and not row[0].strip()):
        return [Problem(line, "blank line")]
    if len(row) != 2:
        return [Problem(line, f"{len(row)} fields, expected 2 (image_id,PredictionString)")]
    image_id, text = row[0].strip(), row[1]
    out = []
    if not image_id:
        out.append(Problem(line, "empty image_id"))
    elif image_id in seen:
        out.append(Problem(line, f"image {image_id} already listed on line {seen[image_id]}"))
    else:
        seen[image_id] = line
        if image_id not in in_sample:
            out.append(Problem(line, f"image {image_id} is not in the sample submission"))
    out.extend(Problem(line, msg) for msg in check_prediction_string(text, size_of.get(image_id)))
    return out
