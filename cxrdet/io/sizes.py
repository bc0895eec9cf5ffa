"""Image sizes in ORIGINAL pixels from a CSV: convert's meta.csv, a prediction file, or image_id,height,width."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.tables import MAX_PIXELS, columns_error, read_csv_table, record_lines

# convert's meta.csv has both pairs: height/width there is the PNG, original_* the DICOM (what boxes use)
_PAIRS = (("original_height", "original_width"), ("height", "width"))
_WHAT = "sizes CSV"


def read_sizes(path: str | os.PathLike) -> pd.DataFrame:
    """Original height and width per image (index ``image_id``, float64 columns ``height``, ``width``).

    Takes ``original_height,original_width`` when the file has them (a ``cxrdet convert`` meta.csv, whose
    ``height,width`` are the PNG's), else ``height,width`` (a prediction file or a plain sizes CSV). Rows
    with empty sizes (prediction-file rows of images without boxes may repeat) are ignored.

    Raises:
        InputError: unreadable file, missing or repeated columns, no row with a size, an empty image_id,
            sizes that are not positive numbers up to ``MAX_PIXELS``, or one image with two different sizes.
    """
    frame = read_csv_table(path, _WHAT, dtype=str, keep_default_na=False)
    pair = next((p for p in _PAIRS if {"image_id", *p} <= set(frame.columns)), None)
    if pair is None:
        raise columns_error(
            path,
            list(frame.columns),
            [c for c in ("image_id", "height", "width") if c not in frame.columns],
            "image_id,height,width (or image_id,original_height,original_width)",
            ("image_id", *_PAIRS[0], *_PAIRS[1]),
        )
    ids = frame["image_id"].str.strip()
    values = frame[list(pair)].apply(lambda c: pd.to_numeric(c.str.strip().replace("", None), errors="coerce"))
    values = values.to_numpy(np.float64)
    text = frame[list(pair)].apply(lambda c: c.str.strip() != "").to_numpy()
    given = text.any(axis=1)
    if not given.any():
        raise InputError(path, "gives no image size (no row has a height and width)")
    _fail(path, frame, given & (ids == "").to_numpy(), "empty image_id")
    bad = given & ~(np.isfinite(values) & (values > 0) & (values <= MAX_PIXELS)).all(axis=1)
    if bad.any():
        image = ids.iloc[int(np.argmax(bad))]
        _fail(path, frame, bad, f"height/width must be positive numbers up to {MAX_PIXELS:.0f} (image {image})")
    sizes = pd.DataFrame(
        values[given], columns=["height", "width"], index=pd.Index(ids[given].astype(str), name="image_id")
    )
    repeated = sizes.reset_index().duplicated().to_numpy()
    conflict = sizes.index.duplicated(keep="first") & ~repeated
    if conflict.any():
        at = np.flatnonzero(given)[int(np.argmax(conflict))]
        _fail(path, frame, np.arange(len(frame)) == at, f"image {sizes.index[conflict][0]} has two different sizes")
    return sizes[~repeated]


def _fail(path: str | os.PathLike, frame: pd.DataFrame, mask: np.ndarray, reason: str) -> None:
    """InputError at the file line of the first row where ``mask`` holds (no-op when none does)."""
    if mask.any():
        first = int(np.argmax(mask))
        more = f" ({int(mask.sum())} rows)" if mask.sum() > 1 else ""
        raise InputError(path, reason + more, row=int(record_lines(path, len(frame))[first]))
