"""Engine edge, normality: a detector-only "No finding" score appended to a prediction table (any engine)."""

from __future__ import annotations

import pandas as pd

from cxrdet.structures import BOX_COLUMNS, NO_FINDING_BOX, VINDR, BoxTable, DatasetMeta


def append_no_finding(table: BoxTable, meta: DatasetMeta = VINDR) -> BoxTable:
    """Adds ``NF p 0 0 1 1`` to every image (VinDr: ``14 p 0 0 1 1``), ``p = 1 - its highest finding score``
    (1 without boxes); ``NF`` is ``meta.no_finding``.

    A detector-only estimate of normality (the winners used a classifier; see ``cxrdet submit
    --normal-prob``); existing "no finding" rows are replaced.

    Raises:
        ValueError: ``meta`` has no "no finding" class.
    """
    if meta.no_finding is None:
        raise ValueError(
            f"the data set ({', '.join(meta.classes[:4])}{', ...' if meta.num_classes > 4 else ''}) "
            "has no 'no finding' class to append"
        )
    no_finding = meta.no_finding
    boxes = table.boxes[table.boxes["class_id"] != no_finding]
    top = boxes.groupby("image_id", sort=False)["score"].max()
    ids = table.images.index
    p = 1.0 - top.reindex(ids).fillna(0.0).clip(0.0, 1.0).to_numpy()
    rows = pd.DataFrame(
        {
            "image_id": ids.astype(str),
            "class_id": no_finding,
            "score": p,
            **{c: v for c, v in zip(BOX_COLUMNS, NO_FINDING_BOX)},
        }
    )
    parts = [f for f in (boxes, rows) if len(f)]  # no empty frame in concat: keeps one-chunk string columns
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else (parts[0] if parts else boxes)
    return BoxTable(frame, table.images.copy(), table.source)
