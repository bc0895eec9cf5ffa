"""Files in and out, Kaggle ``PredictionString``: the ONE parser and the ONE writer of ``image_id,PredictionString``.

A string is a space-separated list of sextuples ``class_id score x_min y_min x_max y_max`` in ORIGINAL pixels.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.atomic import write_text
from cxrdet.structures.boxes import BOX_COLUMNS, BoxTable

KAGGLE_COLUMNS: tuple[str, ...] = ("image_id", "PredictionString")
EMPTY_PREDICTION = "14 1 0 0 1 1"
"""PredictionString of an image without any box: "No finding" with confidence 1."""
_NUM = ("class_id", "score", *BOX_COLUMNS)


@dataclass(frozen=True)
class ParsedStrings:
    """Many ``PredictionString`` values split into numbers.

    Attributes:
        counts: (N,) number of values on each row (0 for an empty string).
        values: every row's values, flattened in row order (float64; NaN for a token that is not a number).
        not_numeric: (N,) True for a row with a token that is not a number ("nan"/"inf" are numbers here:
            :func:`cxrdet.structures.box_problems` reports them).
    """

    counts: np.ndarray
    values: np.ndarray
    not_numeric: np.ndarray

    def tokens_not_numeric(self, strings: Iterable[str]) -> list[str]:
        """The tokens that are not numbers (for a message), in order."""
        bad = []
        for text in strings:
            for token in str(text).split():
                if np.isnan(_to_float([token])[0]) and token.lower().lstrip("+-") != "nan":
                    bad.append(token)
        return bad


def _to_float(tokens) -> np.ndarray:
    return pd.to_numeric(pd.Series(tokens, dtype=object), errors="coerce").to_numpy(np.float64)


def parse_prediction_strings(strings: Iterable[str] | pd.Series) -> ParsedStrings:
    """Whitespace-separated numbers per string, vectorised through pyarrow (the one parser of the format)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pd.Series(strings, dtype=object).fillna("").astype(str).str.strip()
    arr = pa.array(text.where(text != "", None).to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    parts = pc.utf8_split_whitespace(arr)  # an empty row is null (splitting "" would give [""])
    counts = pc.fill_null(pc.list_value_length(parts), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(parts)
    rows = np.repeat(np.arange(len(text)), counts)
    try:
        values = pc.cast(flat, pa.float64()).to_numpy(zero_copy_only=False)
        bad_tokens = np.zeros(len(values), bool)
    except pa.ArrowInvalid:  # some token is not a number: find which
        tokens = flat.to_numpy(zero_copy_only=False)
        values = _to_float(tokens)
        spelled_nan = pd.Series(tokens, dtype=object).str.lower().str.lstrip("+-").eq("nan").to_numpy()
        bad_tokens = np.isnan(values) & ~spelled_nan
    not_numeric = np.zeros(len(text), bool)
    not_numeric[rows[bad_tokens]] = True
    return ParsedStrings(counts, np.asarray(values, np.float64), not_numeric)


def format_prediction_strings(table: BoxTable) -> pd.Series:
    """Kaggle ``PredictionString`` per image (index image_id, every image of the table, in order).

    Sextuples ``class score x_min y_min x_max y_max`` in table order within each image; floats are
    written with the shortest repr that reads back to the same float64 (no precision lost); images
    without boxes get ``14 1 0 0 1 1``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    b = table.boxes
    images = table.images.index
    codes = images.get_indexer(b["image_id"])
    if (codes < 0).any():
        raise ValueError(f"{table.source}: boxes of images missing from BoxTable.images")
    order = np.argsort(codes, kind="stable")
    cols = ["class_id", *_NUM[1:]]
    arrow = pa.Table.from_pandas(b[cols].iloc[order], preserve_index=False)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(arrow, sink, pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none"))
    lines = sink.getvalue().to_pybytes().decode().split("\n")
    counts = np.bincount(codes, minlength=len(images))
    ends = np.cumsum(counts)
    strings = [" ".join(lines[e - n : e]) if n else EMPTY_PREDICTION for n, e in zip(counts, ends)]
    return pd.Series(strings, index=images, name="PredictionString", dtype=str)


def write_kaggle(table: BoxTable, path: str | os.PathLike, image_ids: Iterable[str] | None = None) -> None:
    """Writes ``image_id,PredictionString`` (one row per image), atomically.

    Args:
        table: boxes in original pixels.
        path: output CSV.
        image_ids: rows to write, in order (default: ``table.images`` order); each must be in the table.
    """
    strings = format_prediction_strings(table)
    if image_ids is not None:
        ids = pd.Index(pd.Series(list(image_ids), dtype=str))
        unknown = ids.difference(strings.index)
        if len(unknown):
            raise InputError(
                table.source or "<table>", f"{len(unknown)} requested images are not in the table (first: {unknown[0]})"
            )
        strings = strings.reindex(ids)
    write_kaggle_rows(strings.index, strings.to_numpy(), path, source=table.source or "<table>")


def write_kaggle_rows(
    image_ids: Iterable[str], strings: Iterable[str], path: str | os.PathLike, *, source: str | None = None
) -> None:
    """Writes ``image_id,PredictionString`` rows, atomically, UTF-8, ``\\n`` line ends, no quoting.

    Raises:
        InputError: an image_id holding a comma, quote or newline (it would need quoting Kaggle does not
            expect), naming ``source`` (default: ``path``).
    """
    ids = [str(i) for i in image_ids]
    if any("," in i or '"' in i or "\n" in i for i in ids):
        raise InputError(source or path, "an image_id holds a comma, quote or newline")
    text = "image_id,PredictionString\n" + "".join(f"{i},{s}\n" for i, s in zip(ids, strings))
    write_text(Path(path), text)
