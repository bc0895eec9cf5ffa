"""Box tables on disk <-> :class:`BoxTable`: the exchange format between inference, ensembling, evaluation and submission.

Three file formats are read (detected from the columns):

* prediction file (CSV or parquet): ``image_id,class_id,score,x_min,y_min,x_max,y_max[,height,width]``,
  one row per box; an image without boxes is a row whose class/score/box fields are empty;
* Kaggle submission CSV: ``image_id,PredictionString`` (sextuples ``class score x_min y_min x_max y_max``);
* VinDr ``train.csv``: ``image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max`` (one row per box per
  radiologist; "No finding" rows have empty boxes and become ``[0, 0, 1, 1]``).

Coordinates are always ORIGINAL image pixels (continuous, xyxy).

The CSV helpers at the end (:func:`read_csv_table`, :func:`record_lines`, :func:`columns_error`) are shared by
every table reader of cxrdet (labels, sizes, sample submission, normal probabilities): whatever a file holds,
they fail only with an :class:`InputError` naming the file (and line), never quoting more than a column name.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Iterable, Iterator, Sequence

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
MAX_PIXELS: float = float(2**20)
"""Largest absolute box coordinate, height or width accepted, in pixels: a DICOM image has at most 65535 rows
and columns, so a value beyond this is a unit mix-up or garbage (and would overflow areas and normalisations)."""


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


# ------------------------------------------------------------------------------------- CSV files, read safely

_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PANDAS_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_PANDAS_EOF_IN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")
_ARROW_FIELDS = re.compile(r"Expected (\d+) columns, got (\d+)")
_MANGLED = re.compile(r"(.+)\.\d+")


def short(text: object, limit: int = 40) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters (a cell may hold anything, of any length)."""
    text = str(text)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def check_input_file(path: str | os.PathLike, what: str, text: bool = True) -> Path:
    """``path`` if it is a non-empty regular file; with ``text``, one that is neither binary nor UTF-16.

    Raises:
        InputError: missing, a directory, unreadable, 0 bytes, or (``text``, uncompressed) NUL bytes or a
            UTF-16 byte-order mark in its first 8 KiB.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, f"is a directory, not a {what}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as err:
        raise InputError(path, f"cannot open ({err.strerror or type(err).__name__})") from None
    if not head:
        raise InputError(path, f"empty file (0 bytes); expected a {what}")
    if text and path.suffix.lower() not in _COMPRESSED:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InputError(path, f"is UTF-16 text; save the {what} as UTF-8")
        if b"\x00" in head:
            kind = "a PNG image" if head.startswith(_PNG_SIGNATURE) else "binary data (NUL bytes)"
            raise InputError(path, f"holds {kind}, not a {what}")
    return path


def read_csv_table(path: str | os.PathLike, what: str, **options) -> pd.DataFrame:
    """``pd.read_csv(path, **options)`` for a user's file; column names stripped of spaces and a BOM.

    Args:
        path: the CSV (pandas' compression by extension works).
        what: what the file should be, for messages ("labels CSV").
        options: passed to :func:`pandas.read_csv`.

    Raises:
        InputError: naming the file (and the line when the parser tells it): see :func:`check_input_file`,
            text that is not UTF-8, a row with too many fields, an unclosed quote, no header, a column name
            given twice.
    """
    path = check_input_file(path, what)
    try:
        frame = pd.read_csv(path, **options)
    except (OSError, ValueError) as err:  # ParserError, EmptyDataError, UnicodeDecodeError: all ValueErrors
        raise csv_error(path, what, err) from None
    frame.columns = [_clean_name(c) for c in frame.columns]
    _check_unique_columns(path, list(frame.columns), options.get("encoding"))
    return frame


def _clean_name(name: object) -> str:
    return str(name).strip().lstrip("\ufeff").strip()


def _check_unique_columns(path: Path, names: list[str], encoding: str | None) -> None:
    """A column given twice: pandas renames the second ``name.1``, which would leave it unread silently."""
    present = set(names)
    if any((m := _MANGLED.fullmatch(n)) and m.group(1) in present for n in names):
        try:  # only then is the raw header worth reading again
            raw = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, encoding=encoding)
            names = [_clean_name(c) for c in raw.iloc[0]] if len(raw) else names
        except (OSError, ValueError):
            pass
    index = pd.Index(names)
    twice = [n for n in pd.unique(index[index.duplicated()]) if n]
    if twice:
        raise InputError(path, f"column {', '.join(short(n) for n in twice[:5])} appears more than once in "
                         "the header", row=1)


def csv_error(path: Path, what: str, err: Exception) -> InputError:
    """The InputError for a parser failure: its cause and line in cxrdet's words (parsers may quote a row)."""
    log.debug("%s: %s: %s", path, type(err).__name__, err)
    message = str(err)
    if isinstance(err, UnicodeDecodeError):
        return InputError(path, f"is not UTF-8 text; save the {what} as UTF-8", row=_first_non_utf8_line(path))
    if m := _PANDAS_FIELDS.search(message):
        return InputError(path, f"{m[3]} fields, expected {m[1]} (as many as the header has)", row=int(m[2]))
    if m := _PANDAS_EOF_IN_QUOTE.search(message):
        return InputError(path, 'a double quote (") opened on this line is never closed', row=int(m[1]) + 1)
    if m := _ARROW_FIELDS.search(message):
        return InputError(path, f"a row has {m[2]} fields, expected {m[1]} (as many as the header has)")
    if isinstance(err, pd.errors.EmptyDataError):
        return InputError(path, f"no header line (only blank lines); expected a {what}")
    if isinstance(err, OSError):
        return InputError(path, f"cannot read ({err.strerror or type(err).__name__})")
    return InputError(path, f"cannot parse as a {what} ({type(err).__name__}; --verbose logs the parser's words)")


def _first_non_utf8_line(path: Path) -> int | None:
    if path.suffix.lower() in _COMPRESSED:
        return None
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        return err.object.count(b"\n", 0, err.start) + 1
    except OSError:
        return None
    return None


@contextlib.contextmanager
def csv_field_limit(limit: int = 2**31 - 1) -> Iterator[None]:
    """Lifts the csv module's 131072-character field limit (a long PredictionString is legal) for a block."""
    old = csv.field_size_limit()
    csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def record_lines(path: str | os.PathLike, n: int) -> np.ndarray:
    """The 1-based file line (what an editor shows) on which each of the ``n`` data records of a CSV starts.

    Counts the lines pandas skips (blank or whitespace-only, also before the header) and quoted fields that
    span lines; for a plain file the first record is on line 2. A compressed file, or one the csv module
    splits into a different number of records than pandas did, gets ``2 .. n + 1``.
    """
    default = np.arange(2, n + 2, dtype=np.int64)
    path = Path(path)
    if path.suffix.lower() in _COMPRESSED:
        return default
    starts: list[int] = []
    try:
        with csv_field_limit(), open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            reader = csv.reader(fh)
            header_seen, consumed = False, 0
            for row in reader:
                if len(row) > 1 or any(cell.strip() for cell in row):
                    if header_seen:
                        starts.append(consumed + 1)
                    header_seen = True
                consumed = reader.line_num
    except (OSError, csv.Error):
        return default
    return np.asarray(starts, dtype=np.int64) if len(starts) == n else default


def columns_error(path: str | os.PathLike, found: Sequence[str], missing: Sequence[str], expected: str,
                  known: Collection[str], csv_header: bool = True) -> InputError:
    """The error for a table without the columns it needs (``csv_header``: on line 1 of a CSV).

    A CSV's found names are listed only when its first line is a header (it has at least one name of
    ``known``): in a file without a header they are the first row's cells, which may hold identifiers.
    """
    row = 1 if csv_header else None
    if csv_header and not set(found) & set(known):
        return InputError(path, f"the first line has no known column name (no header line?); expected {expected}",
                          row=row)
    shown = ", ".join(short(c) for c in found[:20]) + (", ..." if len(found) > 20 else "")
    return InputError(path, f"missing column(s) {', '.join(missing)} (found: {shown or 'none'}); expected "
                      f"{expected}", row=row)
