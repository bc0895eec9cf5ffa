"""Image sizes in ORIGINAL pixels from a CSV: convert's meta.csv, a prediction file, or image_id,height,width."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from cxrdet.errors import InputError

# convert's meta.csv has both pairs: height/width there is the PNG, original_* the DICOM (what boxes use)
_PAIRS = (("original_height", "original_width"), ("height", "width"))


def read_sizes(path: str | os.PathLike) -> pd.DataFrame:
    """Original height and width per image (index ``image_id``, float64 columns ``height``, ``width``).

    Takes ``original_height,original_width`` when the file has them (a ``cxrdet convert`` meta.csv, whose
    ``height,width`` are the PNG's), else ``height,width`` (a prediction file or a plain sizes CSV). Rows
    with empty sizes (prediction-file rows of images without boxes may repeat) are ignored.

    Raises:
        InputError: unreadable file, missing columns, sizes that are not positive numbers, or one image
            with two different sizes.
    """
    try:
        frame = pd.read_csv(path, dtype={"image_id": str})
    except Exception as err:  # noqa: BLE001 - any parser error is the file's fault
        raise InputError(path, f"cannot read sizes: {err}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    pair = next((p for p in _PAIRS if {"image_id", *p} <= set(frame.columns)), None)
    if pair is None:
        raise InputError(path, "need columns image_id,height,width (or image_id,original_height,original_width)",
                         row=1)
    values = frame[list(pair)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    given = ~np.isnan(values).all(axis=1)
    bad = given & ~(np.isfinite(values) & (values > 0)).all(axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise InputError(path, f"height/width must be positive numbers (image {frame['image_id'].iloc[first]})",
                         row=first + 2)
    sizes = pd.DataFrame(values[given], columns=["height", "width"],
                         index=pd.Index(frame["image_id"][given].astype(str), name="image_id"))
    sizes = sizes[~sizes.reset_index().duplicated().to_numpy()]
    conflict = sizes.index.duplicated(keep=False)
    if conflict.any():
        raise InputError(path, f"image {sizes.index[conflict][0]} has two different sizes")
    return sizes
