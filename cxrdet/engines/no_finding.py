"""Engine edge, normality: a detector-only "No finding" score appended to a prediction table (any engine)."""

from __future__ import annotations

import pandas as pd

from cxrdet.structures import BoxTable
from cxrdet.vindr import BOX_COLUMNS, NO_FINDING, NO_FINDING_BOX


def append_no_finding(table: BoxTable) -> BoxTable:
    """Adds ``14 p 0 0 1 1`` to every image, ``p = 1 - its highest finding score`` (1 without boxes).

    A detector-only estimate of normality (the winners used a classifier; see ``cxrdet submit
    --normal-prob``); existing class-14 rows are replaced.
    """
    boxes = table.boxes[table.boxes["class_id"] != NO_FINDING]
    top = boxes.groupby("image_id", sort=False)["score"].max()
    ids = table.images.index
    p = 1.0 - top.reindex(ids).fillna(0.0).clip(0.0, 1.0).to_numpy()
    rows = pd.DataFrame({"image_id": ids.astype(str), "class_id": NO_FINDING, "score": p,
                         **{c: v for c, v in zip(BOX_COLUMNS, NO_FINDING_BOX)}})
    parts = [f for f in (boxes, rows) if len(f)]  # no empty frame in concat: keeps one-chunk string columns
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else (parts[0] if parts else boxes)
    return BoxTable(frame, table.images.copy(), table.source)
