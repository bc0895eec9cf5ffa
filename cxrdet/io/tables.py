"""Files in, every table: read a user's CSV safely (file checks, parser errors with their line, exact line numbers).

Shared by every table reader of cxrdet (box tables, labels, sizes, sample submission, normal probabilities,
failure lists): whatever a file holds, they fail only with an :class:`~cxrdet.errors.InputError` naming the
file (and line), never quoting more than a column name.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import re
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.structures.checks import MAX_PIXELS

__all__ = [
    "MAX_PIXELS",
    "check_input_file",
    "clean_name",
    "columns_error",
    "csv_error",
    "csv_field_limit",
    "read_csv_table",
    "record_lines",
    "short",
]

log = logging.getLogger(__name__)

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
    frame.columns = [clean_name(c) for c in frame.columns]
    _check_unique_columns(path, list(frame.columns), options.get("encoding"))
    return frame


def clean_name(name: object) -> str:
    return str(name).strip().lstrip("\ufeff").strip()


def _check_unique_columns(path: Path, names: list[str], encoding: str | None) -> None:
    """A column given twice: pandas renames the second ``name.1``, which would leave it unread silently."""
    present = set(names)
    if any((m := _MANGLED.fullmatch(n)) and m.group(1) in present for n in names):
        try:  # only then is the raw header worth reading again
            raw = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, encoding=encoding)
            names = [clean_name(c) for c in raw.iloc[0]] if len(raw) else names
        except (OSError, ValueError):
            pass
    index = pd.Index(names)
    twice = [n for n in pd.unique(index[index.duplicated()]) if n]
    if twice:
        raise InputError(
            path, f"column {', '.join(short(n) for n in twice[:5])} appears more than once in the header", row=1
        )


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


def columns_error(
    path: str | os.PathLike,
    found: Sequence[str],
    missing: Sequence[str],
    expected: str,
    known: Collection[str],
    csv_header: bool = True,
) -> InputError:
    """The error for a table without the columns it needs (``csv_header``: on line 1 of a CSV).

    A CSV's found names are listed only when its first line is a header (it has at least one name of
    ``known``): in a file without a header they are the first row's cells, which may hold identifiers.
    """
    row = 1 if csv_header else None
    if csv_header and not set(found) & set(known):
        return InputError(
            path, f"the first line has no known column name (no header line?); expected {expected}", row=row
        )
    shown = ", ".join(short(c) for c in found[:20]) + (", ..." if len(found) > 20 else "")
    return InputError(
        path, f"missing column(s) {', '.join(missing)} (found: {shown or 'none'}); expected {expected}", row=row
    )
