"""Radiologist fusion: merge the readers' boxes of each image and class into one set of training boxes.

``wbf`` is the winners' recipe (ensemble-boxes weighted boxes fusion over the readers at IoU 0.4); ``nms``
keeps one reader's box per cluster; ``none`` keeps every reader's box. The fused ``n_readers`` column says
how many reader boxes agreed on each fused box. "No finding" rows are dropped (such images stay as
negatives, with no boxes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrdet.vindr import BOX_COLUMNS, NO_FINDING

FUSED_COLUMNS = ["image_id", "class_id", *BOX_COLUMNS, "n_readers"]
METHODS = ("none", "wbf", "nms")


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def _fuse_group(boxes: np.ndarray, readers: np.ndarray, method: str, iou_thr: float) -> tuple:
    """Fuse one image+class group; returns (boxes (M,4), n_readers (M,))."""
    from ensemble_boxes import nms, weighted_boxes_fusion

    scale = np.maximum(boxes.max(axis=0)[[2, 3, 2, 3]], 1.0)  # IoU and averages are scale-free
    order = sorted(set(readers))
    norm = [(boxes[readers == r] / scale).tolist() for r in order]
    ones = [[1.0] * len(b) for b in norm]
    labels = [[0] * len(b) for b in norm]
    if method == "wbf":
        fused, scores, _ = weighted_boxes_fusion(norm, ones, labels, iou_thr=iou_thr, skip_box_thr=0.0)
        count = np.rint(np.asarray(scores) * len(order)).astype(np.int64)  # min(n_models, cluster size)
        return np.asarray(fused).reshape(-1, 4) * scale, count
    kept, _, _ = nms(norm, ones, labels, iou_thr=iou_thr)
    kept = np.asarray(kept).reshape(-1, 4) * scale
    count = np.array([int((_iou(k, boxes) >= iou_thr).sum()) for k in kept], dtype=np.int64)
    return kept, np.minimum(count, len(order))


def fuse_readers(labels: pd.DataFrame, method: str = "wbf", iou_thr: float = 0.4) -> pd.DataFrame:
    """Fuse the readers' boxes per image and class.

    Args:
        labels: VinDr rows (image_id, class_id, rad_id, x_min, y_min, x_max, y_max), already validated.
        method: "wbf", "nms" or "none".
        iou_thr: IoU at which two readers' boxes are the same finding.

    Returns:
        A frame with columns ``image_id, class_id, x_min, y_min, x_max, y_max, n_readers`` (finding
        classes only, sorted by image and class).
    """
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r}; choose from {METHODS}")
    findings = labels.loc[labels["class_id"] != NO_FINDING]
    if findings.empty:
        return pd.DataFrame(columns=FUSED_COLUMNS).astype({"class_id": np.int64, "n_readers": np.int64})
    if method == "none":
        out = findings[["image_id", "class_id", *BOX_COLUMNS]].copy()
        out["n_readers"] = 1
        return out.sort_values(["image_id", "class_id"], kind="stable").reset_index(drop=True)
    parts = []
    rad = findings["rad_id"].astype(str).to_numpy() if "rad_id" in findings else None
    for (image_id, class_id), index in findings.groupby(["image_id", "class_id"], sort=True).indices.items():
        boxes = findings[list(BOX_COLUMNS)].to_numpy(np.float64)[index]
        readers = rad[index] if rad is not None else np.arange(len(index)).astype(str)
        fused, count = _fuse_group(boxes, readers, method, iou_thr)
        part = pd.DataFrame(fused, columns=list(BOX_COLUMNS))
        part.insert(0, "class_id", int(class_id))
        part.insert(0, "image_id", image_id)
        part["n_readers"] = count
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[FUSED_COLUMNS]
