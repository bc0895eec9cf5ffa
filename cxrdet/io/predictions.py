"""Box tables on disk <-> :class:`BoxTable`: the exchange format between inference, ensembling, evaluation and submission.

Three file formats are read (detected from the columns):

* prediction file (CSV or parquet): ``image_id,class_id,score,x_min,y_min,x_max,y_max[,height,width]``,
  one row per box; an image without boxes is a row whose class/score/box fields are empty;
* Kaggle submission CSV: ``image_id,PredictionString`` (sextuples ``class score x_min y_min x_max y_max``);
* VinDr ``train.csv``: ``image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max`` (one row per box per
  radiologist; "No finding" rows have empty boxes and become ``[0, 0, 1, 1]``).

Coordinates are always ORIGINAL image pixels (continuous, xyxy).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.atomic import atomic_path
from cxrdet.structures import Detections, GroundTruth
from cxrdet.vindr import BOX_COLUMNS

log = logging.getLogger(__name__)

PRED_COLUMNS: tuple[str, ...] = ("image_id", "class_id", "score", *BOX_COLUMNS)
SIZE_COLUMNS: tuple[str, ...] = ("height", "width")
KAGGLE_COLUMNS: tuple[str, ...] = ("image_id", "PredictionString")
EMPTY_PREDICTION = "14 1 0 0 1 1"
"""PredictionString of an image without any box: "No finding" with confidence 1."""
_NUM = ("class_id", "score", *BOX_COLUMNS)


def _empty_boxes() -> pd.DataFrame:
    return pd.DataFrame({
        "image_id": pd.Series([], dtype=str), "class_id": np.zeros(0, np.int64),
        **{c: np.zeros(0) for c in ("score", *BOX_COLUMNS)},
    })


def _images_frame(ids: Iterable[str], height=None, width=None) -> pd.DataFrame:
    index = pd.Index(pd.Series(list(ids) if not isinstance(ids, pd.Index) else ids, dtype=str), name="image_id")
    n = len(index)
    h = np.full(n, np.nan) if height is None else np.asarray(height, dtype=np.float64)
    w = np.full(n, np.nan) if width is None else np.asarray(width, dtype=np.float64)
    return pd.DataFrame({"height": h, "width": w}, index=index)


@dataclass
class BoxTable:
    """Boxes of many images, plus the list of images (including those without boxes).

    Attributes:
        boxes: one row per box; columns ``image_id`` (str), ``class_id`` (int64), ``score``, ``x_min``,
            ``y_min``, ``x_max``, ``y_max`` (float64), coordinates in original pixels.
        images: index ``image_id`` (unique; every image the source lists), columns ``height``, ``width``
            (float64, NaN when unknown). When None at construction it is derived from ``boxes``.
        source: where the table came from, for messages.
    """

    boxes: pd.DataFrame = field(default_factory=_empty_boxes)
    images: pd.DataFrame | None = None
    source: str = ""

    def __post_init__(self) -> None:
        b = self.boxes
        missing = [c for c in PRED_COLUMNS if c not in b.columns]
        if missing:
            raise ValueError(f"BoxTable.boxes lacks columns {missing}")
        b = b.loc[:, list(PRED_COLUMNS)]
        self.boxes = b.astype({"image_id": str, "class_id": np.int64, **{c: np.float64 for c in _NUM[1:]}}
                              ).reset_index(drop=True)
        if self.images is None:
            self.images = _images_frame(pd.unique(self.boxes["image_id"]))
        else:  # cheap (one row per image): exact columns, float sizes, str index named image_id
            images = self.images.reindex(columns=list(SIZE_COLUMNS)).astype(np.float64)
            images.index = pd.Index(images.index.astype(str), name="image_id")
            if images.index.has_duplicates:
                raise ValueError("BoxTable.images: duplicate image_id")
            self.images = images

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def image_ids(self) -> pd.Index:
        """Every image of the table, in order."""
        return self.images.index

    def per_image(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """Yields ``(image_id, boxes of that image)`` for every image, empty frames included."""
        groups = self.boxes.groupby("image_id", sort=False).indices
        empty = np.zeros(0, dtype=np.intp)
        for image_id in self.images.index:
            yield image_id, self.boxes.iloc[groups.get(image_id, empty)]

    def to_detections(self) -> list[Detections]:
        """One :class:`Detections` per image (in ``images`` order)."""
        groups = self.boxes.groupby("image_id", sort=False).indices
        xyxy = self.boxes[list(BOX_COLUMNS)].to_numpy()
        scores, labels = self.boxes["score"].to_numpy(), self.boxes["class_id"].to_numpy()
        out = []
        for image_id in self.images.index:
            idx = groups.get(image_id, np.zeros(0, dtype=np.intp))
            out.append(Detections(image_id, xyxy[idx], scores[idx], labels[idx]))
        return out

    def to_ground_truth(self) -> list[GroundTruth]:
        """One :class:`GroundTruth` per image (scores dropped)."""
        return [GroundTruth(d.image_id, d.boxes, d.labels) for d in self.to_detections()]

    @classmethod
    def from_detections(cls, detections: Iterable[Detections | GroundTruth],
                        sizes: pd.DataFrame | None = None, source: str = "") -> "BoxTable":
        """Builds a table from per-image results (GroundTruth gets score 1).

        Args:
            detections: one item per image; images without boxes are kept in ``images``.
            sizes: optional frame indexed by image_id with ``height``/``width``.
            source: label for messages.
        """
        dets = list(detections)
        counts = np.array([len(d) for d in dets], dtype=np.intp)
        ids = [d.image_id for d in dets]
        boxes = np.concatenate([d.boxes for d in dets]) if dets else np.zeros((0, 4))
        scores = np.concatenate([getattr(d, "scores", np.ones(len(d))) for d in dets]) if dets else np.zeros(0)
        labels = np.concatenate([d.labels for d in dets]) if dets else np.zeros(0, np.int64)
        frame = pd.DataFrame({"image_id": pd.Series(np.repeat(np.array(ids, dtype=object), counts), dtype=str),
                              "class_id": labels.astype(np.int64), "score": scores,
                              **{c: boxes[:, i] for i, c in enumerate(BOX_COLUMNS)}})
        images = _images_frame(pd.unique(pd.Series(ids, dtype=str)))
        if sizes is not None:
            images[list(SIZE_COLUMNS)] = sizes.reindex(images.index)[list(SIZE_COLUMNS)].to_numpy(np.float64)
        return cls(frame, images, source)

    @classmethod
    def empty(cls, image_ids: Iterable[str] = (), source: str = "") -> "BoxTable":
        """A table with the given images and no boxes."""
        return cls(_empty_boxes(), _images_frame(image_ids), source)

    @staticmethod
    def concat(tables: Iterable["BoxTable"], source: str = "") -> "BoxTable":
        """Stacks tables: all boxes, union of images (first known size wins)."""
        tables = list(tables)
        if not tables:
            return BoxTable(source=source)
        boxes = pd.concat([t.boxes for t in tables], ignore_index=True)
        images = pd.concat([t.images for t in tables])
        images = images.groupby(level=0, sort=False).first()
        images.index.name = "image_id"
        return BoxTable(boxes, images, source or "+".join(t.source for t in tables))

    def subset(self, image_ids: Iterable[str]) -> "BoxTable":
        """The table restricted to ``image_ids`` (ids unknown to the table are added without boxes)."""
        ids = pd.Index(pd.Series(list(image_ids), dtype=str), name="image_id").drop_duplicates()
        boxes = self.boxes[self.boxes["image_id"].isin(ids)]
        images = self.images.reindex(ids)
        return BoxTable(boxes, images, self.source)


# ----------------------------------------------------------------------------------------------- reading


def read_table(path: str | os.PathLike, *, role: str = "pred", gt_fuse: str = "none",
               missing: str = "error", fuse_iou: float = 0.4) -> BoxTable:
    """Reads a prediction file, Kaggle submission or VinDr ``train.csv`` (format detected from columns).

    Args:
        path: ``.csv`` (optionally compressed) or ``.parquet``/``.pq``.
        role: ``"pred"`` keeps scores; ``"gt"`` sets every score to 1 (Kaggle confidences are ignored).
        gt_fuse: with ``role="gt"``: ``"none"`` keeps every reader's box as a ground-truth box; ``"wbf"``
            fuses the boxes of each image and class with weighted boxes fusion at ``fuse_iou``.
        missing: a box row with SOME empty class/score/coordinate fields is an error (``"error"``, default)
            or dropped with a warning (``"drop"``). A row with all of them empty lists an image without boxes.
        fuse_iou: IoU threshold of ``gt_fuse="wbf"``.

    Returns:
        The table; ``images`` lists every image of the file in order of first appearance.

    Raises:
        InputError: unreadable file, missing columns, or bad values (naming the first bad lines).
    """
    if role not in ("pred", "gt") or gt_fuse not in ("none", "wbf") or missing not in ("error", "drop"):
        raise ValueError(f"bad option: role={role!r} gt_fuse={gt_fuse!r} missing={missing!r}")
    from cxrdet.io import _predictions_parse as parse  # local: keeps this module's import light

    frame, where, fmt = parse.load(Path(path))
    if fmt == "kaggle":
        frame, where = parse.explode_kaggle(frame, where)
    elif fmt == "vindr":
        frame = parse.vindr_to_pred(frame)
    table, kept = parse.to_table(frame, where, role=role, missing=missing)
    if role == "gt" and gt_fuse == "wbf":
        readers = frame["rad_id"].astype(str).to_numpy()[kept] if "rad_id" in frame.columns else None
        table = parse.fuse_gt(table, readers, iou_thr=fuse_iou)
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
    empty = pd.DataFrame({"image_id": pd.Series(empty_ids, dtype=str),
                          "class_id": pd.array([None] * len(empty_ids), dtype="Int64"),
                          **{c: np.full(len(empty_ids), np.nan) for c in _NUM[1:]}})
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
    strings = [" ".join(lines[e - n:e]) if n else EMPTY_PREDICTION for n, e in zip(counts, ends)]
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
            raise InputError(table.source or "<table>", f"{len(unknown)} requested images are not in the "
                             f"table (first: {unknown[0]})")
        strings = strings.reindex(ids)
    ids = [str(i) for i in strings.index]
    if any("," in i or '"' in i or "\n" in i for i in ids):
        raise InputError(table.source or "<table>", "an image_id holds a comma, quote or newline")
    text = "image_id,PredictionString\n" + "".join(f"{i},{s}\n" for i, s in zip(ids, strings.to_numpy()))
    _atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
