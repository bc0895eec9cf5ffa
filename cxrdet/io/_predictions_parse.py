"""Files in, box tables (private to :mod:`cxrdet.io.predictions`): load a box file, build a BoxTable, check every value.

All checks are vectorised; a failing check raises :class:`InputError` naming the first bad line (CSV: file
line, header = line 1; parquet: 1-based data row) and a few more.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.prediction_strings import parse_prediction_strings
from cxrdet.io.tables import check_input_file, clean_name, columns_error, read_csv_table, record_lines
from cxrdet.ops.readers import fuse_readers
from cxrdet.structures import (
    BOX_COLUMNS,
    MAX_PIXELS,
    NO_FINDING_BOX,
    PRED_COLUMNS,
    SIZE_COLUMNS,
    VINDR,
    BoxTable,
    DatasetMeta,
    box_problems,
    images_frame,
)

log = logging.getLogger(__name__)

_NUMERIC = ("class_id", "score", *BOX_COLUMNS, *SIZE_COLUMNS)
_STRINGS = ("image_id", "rad_id", "class_name", "PredictionString")
_KNOWN = frozenset((*_NUMERIC, *_STRINGS))
_WHAT = "box table"


class _Lines:
    """Record position -> what the user sees, worked out on first use (a CSV's blank lines need a re-scan)."""

    def __init__(self, path: Path, n: int, unit: str):
        self.path, self.n, self.unit = path, n, unit
        self._table: np.ndarray | None = None

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        if self._table is None:
            self._table = (
                record_lines(self.path, self.n) if self.unit == "line" else np.arange(1, self.n + 1, dtype=np.int64)
            )
        return self._table[positions]


class Where:
    """Maps table rows to what the user sees: file lines (CSV) or data rows (parquet)."""

    def __init__(self, path: Path, positions: np.ndarray, unit: str, lines_of: _Lines | None = None):
        self.path, self.unit = path, unit
        self.positions = np.asarray(positions, dtype=np.int64)
        self._lines_of = lines_of or _Lines(path, len(self.positions), unit)

    @classmethod
    def of_file(cls, path: Path, n: int, unit: str) -> Where:
        """Every one of the ``n`` records of ``path``, in order."""
        return cls(path, np.arange(n), unit)

    @property
    def lines(self) -> np.ndarray:
        return self._lines_of(self.positions)

    def take(self, index) -> Where:
        return Where(self.path, self.positions[index], self.unit, self._lines_of)

    def fail(self, mask: np.ndarray, reason: str) -> None:
        """Raises InputError for the rows where ``mask`` is True (no-op when none is)."""
        bad = np.flatnonzero(mask)
        if not len(bad):
            return
        shown = self._lines_of(self.positions[bad[:6]])
        first = int(shown[0])
        more = ""
        if len(bad) > 1:
            listed = ", ".join(str(int(x)) for x in shown[1:])
            more = f" (also {self.unit}s {listed}{', ...' if len(bad) > 6 else ''}; {len(bad)} in all)"
        if self.unit == "line":
            raise InputError(self.path, reason + more, row=first)
        raise InputError(self.path, f"row {first}: {reason}{more}")


def _detect(columns: list[str], path: Path, csv_header: bool = True) -> str:
    if "PredictionString" in columns:
        fmt, need = "kaggle", ["image_id", "PredictionString"]
    elif "rad_id" in columns or "class_name" in columns:
        fmt, need = "vindr", ["image_id", "class_id", *BOX_COLUMNS]
    else:
        fmt, need = "pred", ["image_id", "class_id", *BOX_COLUMNS]
    missing = [c for c in need if c not in columns]
    if missing:
        raise columns_error(
            path,
            columns,
            missing,
            f"a prediction file ({','.join(PRED_COLUMNS)}), a Kaggle "
            "submission (image_id,PredictionString) or a VinDr train.csv",
            _KNOWN,
            csv_header,
        )
    return fmt


def _read_csv_strings(path: Path) -> pd.DataFrame:
    return read_csv_table(path, _WHAT, dtype=str, keep_default_na=False, skipinitialspace=True)


def _coerce_numeric(frame: pd.DataFrame, where: Where, columns=_NUMERIC) -> pd.DataFrame:
    """String columns -> float64, reporting non-numeric cells (empty cells become NaN)."""
    for col in columns:
        if col in frame.columns:
            raw = frame[col].astype(str).str.strip()
            values = pd.to_numeric(raw.where(raw != "", None), errors="coerce")
            where.fail((raw != "").to_numpy() & values.isna().to_numpy(), f"{col} is not a number")
            frame[col] = values.astype(np.float64)
    return frame


def load(path: Path) -> tuple[pd.DataFrame, Where, str]:
    """Reads ``path``; returns the raw frame (numeric columns float64), row locations and the format.

    Raises:
        InputError: unreadable file, missing columns, no rows, or a cell of the wrong kind (with its line).
    """
    is_parquet = path.suffix.lower() in (".parquet", ".pq")
    frame, where, fmt = _load_parquet(path) if is_parquet else _load_csv(path)
    if frame.empty:
        raise InputError(
            path,
            "has a header but no rows; a box table lists every image (an image without "
            "boxes as a row with empty class/score/box fields)",
        )
    return frame, where, fmt


def _load_parquet(path: Path) -> tuple[pd.DataFrame, Where, str]:
    import pyarrow.parquet as pq

    check_input_file(path, "parquet file", text=False)
    try:
        names = pq.read_schema(path).names
    except Exception as err:  # any reader error is the file's fault
        log.debug("%s: %s: %s", path, type(err).__name__, err)
        raise InputError(path, f"not a parquet file, or a truncated or damaged one ({type(err).__name__})") from None
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(path, f"column {', '.join(twice[:5])} appears more than once")
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # a damaged data page
        log.debug("%s: %s: %s", path, type(err).__name__, err)
        raise InputError(path, f"cannot read the parquet data, truncated or damaged ({type(err).__name__})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    fmt = _detect(list(frame.columns), path, csv_header=False)
    where = Where.of_file(path, len(frame), "row")
    _check_text_columns(frame, path)
    text = [
        c
        for c in frame.columns
        if c in _NUMERIC and (not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    for col in frame.columns:
        if col in _NUMERIC and col not in text:
            frame[col] = frame[col].astype("Float64").to_numpy(np.float64, na_value=np.nan)
    if text and fmt != "kaggle":
        frame[text] = frame[text].astype(str).replace({"nan": "", "None": "", "<NA>": ""})
        frame = _coerce_numeric(frame, where, text)
    return frame, where, fmt


def _check_text_columns(frame: pd.DataFrame, path: Path) -> None:
    """Parquet id and name columns must hold text: numbers or bytes would become wrong ids silently."""
    for col in (c for c in _STRINGS if c in frame.columns):
        values = frame[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = pd.Series(values.cat.categories)
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind not in ("string", "empty"):
            raise InputError(path, f"column {col} must hold text, found {kind} values")


def _load_csv(path: Path) -> tuple[pd.DataFrame, Where, str]:
    header = read_csv_table(path, _WHAT, nrows=0)
    fmt = _detect(list(header.columns), path)
    frame = _read_csv_fast(path, list(header.columns)) if fmt != "kaggle" else None
    if frame is not None:
        return frame, Where.of_file(path, len(frame), "line"), fmt
    frame = _read_csv_strings(path)
    where = Where.of_file(path, len(frame), "line")
    return (frame if fmt == "kaggle" else _coerce_numeric(frame, where)), where, fmt


def _read_csv_fast(path: Path, columns: list[str]) -> pd.DataFrame | None:
    """The file through pyarrow with float64 numeric columns, or None when the text path must say what is wrong
    (a non-numeric cell, a quoted newline, a name with spaces that the dtypes did not reach)."""
    dtypes = {c: (str if c in _STRINGS else np.float64) for c in columns if c in _STRINGS + _NUMERIC}
    try:
        frame = pd.read_csv(path, engine="pyarrow", dtype=dtypes)
    except Exception:  # any failure: the text path reports it with its line
        return None
    frame.columns = [clean_name(c) for c in frame.columns]
    if list(frame.columns) != columns or not all(
        pd.api.types.is_float_dtype(frame[c]) for c in columns if c in _NUMERIC
    ):
        return None
    return frame


def _split_numbers(strings: pd.Series, where: Where) -> tuple[np.ndarray, np.ndarray]:
    """Whitespace-separated numbers per row -> (count per row, all values flattened)."""
    parsed = parse_prediction_strings(strings)
    nan_rows = np.zeros(len(parsed.counts), bool)  # a box table refuses "nan" too (an empty field elsewhere)
    nan_rows[np.repeat(np.arange(len(parsed.counts)), parsed.counts)[np.isnan(parsed.values)]] = True
    where.fail(parsed.not_numeric | nan_rows, "PredictionString holds a value that is not a number")
    return parsed.counts, parsed.values


def explode_kaggle(frame: pd.DataFrame, where: Where) -> tuple[pd.DataFrame, Where]:
    """One row per sextuple of ``PredictionString`` (one empty row per image without any)."""
    ids = frame["image_id"].astype(str).str.strip()
    where.fail(ids.duplicated(keep="first").to_numpy(), "image_id listed twice")
    counts, values = _split_numbers(frame["PredictionString"], where)
    where.fail(
        counts % 6 != 0,
        "PredictionString must hold sextuples 'class score x_min y_min x_max y_max' "
        "(its number of values is not a multiple of 6)",
    )
    k = counts // 6
    reps = np.maximum(k, 1)
    full = np.full((int(reps.sum()), 6), np.nan)
    full[np.repeat(k > 0, reps)] = values.reshape(-1, 6)
    out = pd.DataFrame(full, columns=["class_id", "score", *BOX_COLUMNS])
    out.insert(0, "image_id", np.repeat(ids.to_numpy(dtype=object), reps))
    return out, where.take(np.repeat(np.arange(len(frame)), reps))


def vindr_to_pred(frame: pd.DataFrame, meta: DatasetMeta = VINDR) -> pd.DataFrame:
    """VinDr rows -> prediction layout: score 1, "No finding" rows with empty boxes get ``[0, 0, 1, 1]``."""
    frame = frame.copy()
    coords = frame[list(BOX_COLUMNS)].to_numpy(np.float64, copy=True)
    no_finding = -1 if meta.no_finding is None else meta.no_finding
    normal = (frame["class_id"].to_numpy() == no_finding) & np.isnan(coords).all(axis=1)
    coords[normal] = NO_FINDING_BOX
    frame[list(BOX_COLUMNS)] = coords
    frame["score"] = 1.0
    return frame


def _check_values(num: np.ndarray, has_score: bool, where: Where, meta: DatasetMeta = VINDR) -> None:
    """``num`` columns: class_id, score, x_min, y_min, x_max, y_max (rows with empty fields removed)."""
    for mask, reason in box_problems(num[:, 0], num[:, 1] if has_score else None, num[:, 2:], meta):
        where.fail(mask, reason)


def _sizes(frame: pd.DataFrame, ids: pd.Series, where: Where, image_index: pd.Index) -> pd.DataFrame:
    images = images_frame(image_index)
    if not all(c in frame.columns for c in SIZE_COLUMNS):
        return images
    hw = frame[list(SIZE_COLUMNS)].to_numpy(np.float64)
    where.fail(
        ~np.isnan(hw).all(axis=1) & ~(np.isfinite(hw) & (hw > 0) & (hw <= MAX_PIXELS)).all(axis=1),
        f"height and width must be both empty or both positive numbers (at most {MAX_PIXELS:.0f})",
    )
    known = pd.DataFrame(hw, columns=list(SIZE_COLUMNS)).assign(image_id=ids.to_numpy()).dropna()
    distinct = known.drop_duplicates()
    conflict = distinct["image_id"].duplicated(keep=False)
    if conflict.any():
        bad = distinct["image_id"][conflict].iloc[0]
        where.fail((ids == bad).to_numpy(), f"image {bad} is given different height/width on different rows")
    sizes = distinct.drop_duplicates("image_id").set_index("image_id")
    images[list(SIZE_COLUMNS)] = sizes.reindex(image_index)[list(SIZE_COLUMNS)].to_numpy()
    return images


def to_table(
    frame: pd.DataFrame, where: Where, *, role: str, missing: str, meta: DatasetMeta = VINDR
) -> tuple[BoxTable, np.ndarray]:
    """Checks a prediction-layout frame and builds the table; also returns the kept row positions."""
    has_score = "score" in frame.columns
    if role == "pred" and not has_score:
        raise InputError(where.path, "missing column score (needed for predictions)")
    ids = frame["image_id"]
    where.fail(ids.isna().to_numpy() | (ids.astype(str).str.strip() == "").to_numpy(), "empty image_id")
    ids = ids.astype(str).str.strip()
    num = np.column_stack(
        [
            frame[c].to_numpy(np.float64) if c in frame.columns else np.ones(len(frame))
            for c in ("class_id", "score", *BOX_COLUMNS)
        ]
    )
    nan = np.isnan(num)
    required = [0, 2, 3, 4, 5] + ([1] if role == "pred" else [])
    image_only = nan[:, [0, 2, 3, 4, 5]].all(axis=1)
    if role == "pred":
        image_only &= nan[:, 1]
    partial = nan[:, required].any(axis=1) & ~image_only
    if missing == "error":
        where.fail(
            partial,
            "empty (or NaN) class_id/score/coordinate field in a box row (all empty = image "
            "without boxes; use missing='drop' to skip such rows)",
        )
    elif partial.any():
        log.warning(
            "%s: dropped %d box rows with empty fields (first at %s %d)",
            where.path,
            int(partial.sum()),
            where.unit,
            int(where.take([np.argmax(partial)]).lines[0]),
        )
    keep = np.flatnonzero(~image_only & ~partial)
    _check_values(num[keep], has_score and role == "pred", where.take(keep), meta)
    score = num[keep, 1] if role == "pred" else np.ones(len(keep))
    boxes = pd.DataFrame(
        {
            "image_id": ids.to_numpy()[keep],
            "class_id": num[keep, 0].astype(np.int64),
            "score": score,
            **{c: num[keep, 2 + i] for i, c in enumerate(BOX_COLUMNS)},
        }
    )
    images = _sizes(frame, ids, where, pd.Index(pd.unique(ids), name="image_id"))
    return BoxTable(boxes, images, str(where.path)), keep


def fuse_gt(table: BoxTable, readers: np.ndarray | None, iou_thr: float, meta: DatasetMeta = VINDR) -> BoxTable:
    """Fuses the readers' ground-truth boxes per image and class (WBF); one "No finding" box per image."""
    b = table.boxes
    labels = b[["image_id", "class_id", *BOX_COLUMNS]].copy()
    labels["rad_id"] = readers if readers is not None else np.arange(len(b)).astype(str)
    fused = fuse_readers(labels, method="wbf", iou_thr=iou_thr, no_finding=meta.no_finding)
    nf = -1 if meta.no_finding is None else meta.no_finding
    normal = b.loc[b["class_id"] == nf, "image_id"].drop_duplicates()
    no_finding = pd.DataFrame(
        {"image_id": normal.to_numpy(), "class_id": nf, **{c: v for c, v in zip(BOX_COLUMNS, NO_FINDING_BOX)}}
    )
    out = pd.concat([fused[["image_id", "class_id", *BOX_COLUMNS]], no_finding], ignore_index=True)
    out["score"] = 1.0
    log.info(
        "%s: fused %d reader boxes into %d ground-truth boxes (WBF, IoU %.2f)", table.source, len(b), len(out), iou_thr
    )
    return BoxTable(out, table.images, table.source)
