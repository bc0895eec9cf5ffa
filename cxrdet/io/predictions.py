"""Files in and out, box tables <-> :class:`BoxTable`: what inference, ensembling, evaluation and submission exchange.

Three file formats are read (detected from the columns):

* prediction file (CSV or parquet): ``image_id,class_id,score,x_min,y_min,x_max,y_max[,height,width]``,
  one row per box; an image without boxes is a row whose class/score/box fields are empty;
* Kaggle submission CSV: ``image_id,PredictionString`` (sextuples ``class score x_min y_min x_max y_max``);
* VinDr ``train.csv``: ``image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max`` (one row per box per
  radiologist; "No finding" rows have empty boxes and become ``[0, 0, 1, 1]``).

Coordinates are always ORIGINAL image pixels (continuous, xyxy).

:class:`~cxrdet.structures.BoxTable` itself lives in :mod:`cxrdet.structures`; the safe CSV read in
:mod:`cxrdet.io.tables`; the ``PredictionString`` parser and writer in :mod:`cxrdet.io.prediction_strings`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from cxrdet.io import _predictions_parse as parse
from cxrdet.io.atomic import atomic_path
from cxrdet.structures import PRED_COLUMNS, SIZE_COLUMNS, VINDR, BoxTable, DatasetMeta  # noqa: F401  (re-exported)
from cxrdet.structures.boxes import _NUM

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- reading


def read_table(
    path: str | os.PathLike,
    *,
    role: str = "pred",
    gt_fuse: str = "none",
    missing: str = "error",
    fuse_iou: float = 0.4,
    meta: DatasetMeta = VINDR,
) -> BoxTable:
    """Reads a prediction file, Kaggle submission or VinDr ``train.csv`` (format detected from columns).

    Args:
        path: ``.csv`` (optionally compressed) or ``.parquet``/``.pq``.
        role: ``"pred"`` keeps scores; ``"gt"`` sets every score to 1 (Kaggle confidences are ignored).
        gt_fuse: with ``role="gt"``: ``"none"`` keeps every reader's box as a ground-truth box; ``"wbf"``
            fuses the boxes of each image and class with weighted boxes fusion at ``fuse_iou``.
        missing: a box row with SOME empty class/score/coordinate fields is an error (``"error"``, default)
            or dropped with a warning (``"drop"``). A row with all of them empty lists an image without boxes.
        fuse_iou: IoU threshold of ``gt_fuse="wbf"``.
        meta: the data set: class ids must lie in ``0..meta.num_classes - 1``; VinDr-layout rows of its
            "no finding" class with empty boxes become ``[0, 0, 1, 1]``. VinDr by default; commands find it
            with :func:`cxrdet.io.metainfo.meta_for`.

    Returns:
        The table; ``images`` lists every image of the file in order of first appearance.

    Raises:
        InputError: unreadable file, missing columns, or bad values (naming the first bad lines).
    """
    if role not in ("pred", "gt") or gt_fuse not in ("none", "wbf") or missing not in ("error", "drop"):
        raise ValueError(f"bad option: role={role!r} gt_fuse={gt_fuse!r} missing={missing!r}")
    frame, where, fmt = parse.load(Path(path))
    if fmt == "kaggle":
        frame, where = parse.explode_kaggle(frame, where)
    elif fmt == "vindr":
        frame = parse.vindr_to_pred(frame, meta)
    table, kept = parse.to_table(frame, where, role=role, missing=missing, meta=meta)
    if role == "gt" and gt_fuse == "wbf":
        readers = frame["rad_id"].astype(str).to_numpy()[kept] if "rad_id" in frame.columns else None
        table = parse.fuse_gt(table, readers, iou_thr=fuse_iou, meta=meta)
    log.debug("%s: %s format, %d boxes on %d images", path, fmt, len(table), len(table.images))
    return table


# ----------------------------------------------------------------------------------------------- writing


def _atomic_write(path: Path, write) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


def _csv_write(frame: pd.DataFrame, dest: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # combine_chunks: a frame concatenated from a zero-row part arrives in chunks, which pyarrow's CSV
    # writer turns into NUL bytes
    table = pa.Table.from_pandas(frame, preserve_index=False).combine_chunks()
    try:
        body_opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
        with open(dest, "wb") as fh:
            fh.write((",".join(frame.columns) + "\n").encode())
            pacsv.write_csv(table, fh, body_opts)
    except pa.ArrowInvalid:  # a value needs quoting (a comma in an id): fall back to pandas
        frame.to_csv(dest, index=False)


def prediction_frame(table: BoxTable) -> pd.DataFrame:
    """The table as one flat frame in prediction-file layout (empty rows for images without boxes)."""
    boxes = table.boxes.astype({"class_id": "Int64"})
    empty_ids = table.images.index.difference(pd.Index(pd.unique(boxes["image_id"])), sort=False)
    empty = pd.DataFrame(
        {
            "image_id": pd.Series(empty_ids, dtype=str),
            "class_id": pd.array([None] * len(empty_ids), dtype="Int64"),
            **{c: np.full(len(empty_ids), np.nan) for c in _NUM[1:]},
        }
    )
    frame = pd.concat([boxes, empty], ignore_index=True) if len(empty) else boxes
    if table.images[list(SIZE_COLUMNS)].notna().any().any():
        for c in SIZE_COLUMNS:
            frame[c] = frame["image_id"].map(table.images[c]).astype(np.float64)
    return frame


def write_predictions(table: BoxTable, path: str | os.PathLike) -> None:
    """Writes a prediction file (``.parquet``/``.pq`` or CSV by extension), atomically.

    Images without boxes are kept as rows with empty class/score/box fields; ``height``/``width``
    columns are written when any size is known. The exact ``path`` is replaced if it exists.
    """
    path = Path(path)
    frame = prediction_frame(table)
    if path.suffix.lower() in (".parquet", ".pq"):
        _atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        _atomic_write(path, lambda tmp: _csv_write(frame, tmp))
