"""Submission, final check: find EVERY problem of a Kaggle submission CSV (with its line) before uploading it.

Checks: UTF-8 text, header, field count and balanced quotes per line, ids missing/extra/duplicate against
the sample submission, ``PredictionString`` made of numeric sextuples ``class score x_min y_min x_max y_max`` (the
one parser of
:mod:`cxrdet.io.prediction_strings`) whose values pass the one value check of every reader
(:func:`cxrdet.structures.box_problems`: class an integer in 0..14, score in [0, 1], coordinates within
``MAX_PIXELS``, ``x_min <= x_max``, ``y_min <= y_max``, class-14 boxes equal to ``0 0 1 1``, anything else
cannot match the "No finding" ground truth), and boxes inside the image when its size is known.

Each physical line is one record (a submission has no quoted newlines), so a stray quote costs its own line
only and every problem's line number is the one an editor shows.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.prediction_strings import parse_prediction_strings
from cxrdet.io.tables import csv_field_limit, short
from cxrdet.structures import VINDR, DatasetMeta, box_problems
from cxrdet.submission.kaggle import read_sample_ids

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


def check_prediction_string(text: str, size: tuple[float, float] | None = None, meta: DatasetMeta = VINDR) -> list[str]:
    """Problems of one ``PredictionString`` (empty list when it is valid).

    Args:
        text: the string.
        size: ``(height, width)`` of the image when known, to check that boxes lie inside it.
        meta: the data set (number of classes, "no finding" class).
    """
    parsed = parse_prediction_strings([text])
    n = int(parsed.counts[0])
    if not n:
        return ["empty PredictionString (an image without findings is '14 1 0 0 1 1')"]
    if n % 6:
        return [f"{n} values, not a multiple of 6 (sextuples 'class score x_min y_min x_max y_max')"]
    if parsed.not_numeric[0]:
        bad = parsed.tokens_not_numeric([text])
        return [f"not a number: {', '.join(short(t, 20) for t in bad[:5])}" + (" ..." if len(bad) > 5 else "")]
    v = parsed.values.reshape(-1, 6)
    checks = box_problems(v[:, 0], v[:, 1], v[:, 2:], meta, no_finding_box=True)
    if size is not None:
        h, w = size
        outside = (v[:, 2] < 0) | (v[:, 3] < 0) | (v[:, 4] > w) | (v[:, 5] > h)
        checks.append(
            (
                outside & (v[:, 0] != (-1 if meta.no_finding is None else meta.no_finding)),
                f"box outside the image (width {w:g}, height {h:g}; original pixels expected)",
            )
        )
    return [f"{_which(mask)}: {reason}" for mask, reason in checks if mask.any()]


def validate_submission(
    path: str | os.PathLike, sample_path: str | os.PathLike, sizes: pd.DataFrame | None = None
) -> list[Problem]:
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
    size_of = {} if sizes is None else {str(k): (h, w) for k, h, w in zip(sizes.index, sizes["height"], sizes["width"])}
    lines, problems = _text_lines(path)
    if lines is None:
        return problems
    header = _fields(lines[0]) if lines[0] is not None else HEADER  # a non-UTF-8 header is reported already
    if [h.strip() for h in header] != HEADER:
        shown = ", ".join(short(h, 30) for h in header[:3]) + (", ..." if len(header) > 3 else "")
        problems.append(
            Problem(
                1,
                f"header must be 'image_id,PredictionString', found {len(header)} "
                f"field{'s' if len(header) != 1 else ''}: {shown}",
            )
        )
    seen: dict[str, int] = {}
    with csv_field_limit():
        for number, text in enumerate(lines[1:], start=2):
            if text is None:  # not UTF-8: reported already
                continue
            if text.count('"') % 2:
                problems.append(Problem(number, 'unbalanced double quote (") on this line'))
                continue
            problems.extend(_check_row(_fields(text), number, in_sample, seen, size_of))
    problems.sort(key=lambda p: p.line or 0)
    problems.extend(Problem(None, f"image {i} of the sample submission is missing") for i in sample if i not in seen)
    return problems


def _text_lines(path: str | os.PathLike) -> tuple[list[str | None] | None, list[Problem]]:
    """The file's physical lines (None for one that is not UTF-8; no list when there is no text to check) and
    the problems of its bytes.

    Raises:
        InputError: the file is missing, a directory or cannot be opened.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a directory, not a submission CSV")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror or type(err).__name__})") from None
    if not data:
        return None, [Problem(None, "empty file")]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [Problem(None, "UTF-16 text; Kaggle reads UTF-8: save the file as UTF-8")]
    if b"\x00" in data[:8192]:
        kind = "a PNG image" if data.startswith(b"\x89PNG") else "binary data (NUL bytes)"
        return None, [Problem(None, f"holds {kind}, not a CSV")]
    raw = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    if raw[-1] == b"":
        raw.pop()  # the newline ending the last line
    problems: list[Problem] = []
    lines: list[str | None] = []
    for number, chunk in enumerate(raw, start=1):
        try:
            lines.append(chunk.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError:
            problems.append(Problem(number, "not UTF-8 text (Kaggle reads UTF-8)"))
            lines.append(None)
    return lines, problems


def _fields(line: str) -> list[str]:
    """One physical line split as CSV (an empty line has no field)."""
    try:
        return next(csv.reader([line]), [])
    except csv.Error:  # cannot happen with the default dialect on one line; kept as a last resort
        return [line]


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
