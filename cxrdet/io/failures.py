"""The failures file beside a prediction file: which images could not be read when predicting, and why.

``cxrdet predict -o pred.csv`` lists an unreadable image in ``pred.csv`` as an image without boxes and in
``pred.failures.csv`` (``image_id,reason``) with the cause; ``cxrdet submit`` reads it back to warn.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from cxrdet.io.atomic import write_csv
from cxrdet.io.tables import columns_error, read_csv_table


def failures_path(output: str | os.PathLike) -> Path:
    """``pred.failures.csv`` for ``pred.csv`` (or ``pred.parquet``)."""
    output = Path(output)
    return output.with_name(f"{output.with_suffix('').name}.failures.csv")


def write_failures(output: str | os.PathLike, failures: dict[str, str]) -> Path | None:
    """Writes the failures beside ``output`` (atomically); removes a stale one when there are none.

    Returns:
        The failures file, or None when nothing failed.
    """
    path = failures_path(output)
    if not failures:
        path.unlink(missing_ok=True)
        return None
    frame = pd.DataFrame({"image_id": list(failures), "reason": list(failures.values())})
    write_csv(path, frame.sort_values("image_id", kind="stable"))
    return path


def read_failures(output: str | os.PathLike) -> dict[str, str]:
    """The failures recorded beside ``output`` (empty when there is no failures file).

    Raises:
        InputError: the failures file exists but is not ``image_id,reason``.
    """
    path = failures_path(output)
    if not path.exists():
        return {}
    frame = read_csv_table(path, "failures file (image_id,reason)", dtype=str, keep_default_na=False)
    if list(frame.columns[:2]) != ["image_id", "reason"]:
        raise columns_error(
            path,
            list(frame.columns),
            [c for c in ("image_id", "reason") if c not in frame.columns] or ["image_id", "reason"],
            "image_id,reason",
            ("image_id", "reason"),
        )
    return dict(zip(frame["image_id"], frame["reason"]))
