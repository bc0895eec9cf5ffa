"""Preprocessing, radiologist fusion: merge the readers' boxes of each image and class into one set of training boxes.

``wbf`` is the winners' recipe (weighted boxes fusion over the readers at IoU 0.4, ensemble-boxes exact, run by
the compiled kernels of :mod:`cxrdet.ops` for every group at once); ``nms`` keeps one reader's box per cluster;
``none`` keeps every reader's box. The fused ``n_readers`` column says how many reader boxes agreed on each
fused box. "No finding" rows are dropped (such images stay as negatives, with no boxes).
"""

from __future__ import annotations

import pandas as pd

from cxrdet.ops import readers
from cxrdet.ops.readers import FUSED_COLUMNS, METHODS  # noqa: F401  (re-exported)
from cxrdet.structures import VINDR, DatasetMeta


def fuse_readers(
    labels: pd.DataFrame, method: str = "wbf", iou_thr: float = 0.4, meta: DatasetMeta = VINDR
) -> pd.DataFrame:
    """Fuse the readers' boxes per image and class.

    Args:
        labels: rows (image_id, class_id, rad_id, x_min, y_min, x_max, y_max), already validated.
        method: "wbf", "nms" or "none".
        iou_thr: IoU at which two readers' boxes are the same finding.
        meta: the data set; rows of its "no finding" class are dropped.

    Returns:
        A frame with columns ``image_id, class_id, x_min, y_min, x_max, y_max, n_readers`` (finding
        classes only, sorted by image and class).
    """
    return readers.fuse_readers(labels, method, iou_thr, no_finding=meta.no_finding)
