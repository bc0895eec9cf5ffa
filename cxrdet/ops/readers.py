"""Fusion kernels, readers: merge several radiologists' boxes of each image and class with the compiled WBF / NMS.

One call fuses every (image, class) group at once: each group becomes one "image" of a
:class:`~cxrdet.ops.arrays.FlatBoxes`, its readers the "models" (in sorted ``rad_id`` order, the order
``ensemble_boxes`` would get them as lists), all scores 1 and the boxes normalised per group by the group's
largest ``x_max`` / ``y_max``. The result equals ``ensemble_boxes`` called group by group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrdet.ops.arrays import FlatBoxes

BOX_COLUMNS = ["x_min", "y_min", "x_max", "y_max"]
FUSED_COLUMNS = ["image_id", "class_id", *BOX_COLUMNS, "n_readers"]
METHODS = ("none", "wbf", "nms")


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": pd.Series([], dtype=str),
            "class_id": np.zeros(0, np.int64),
            **{c: np.zeros(0) for c in BOX_COLUMNS},
            "n_readers": np.zeros(0, np.int64),
        }
    )


def fuse_readers(
    labels: pd.DataFrame, method: str = "wbf", iou_thr: float = 0.4, no_finding: int | None = None
) -> pd.DataFrame:
    """Fuse the readers' boxes per image and class.

    Args:
        labels: rows ``image_id, class_id, x_min, y_min, x_max, y_max`` and optionally ``rad_id`` (without
            it every row is its own reader), already validated (finite boxes, ``x_min <= x_max``).
        method: ``"wbf"`` (weighted boxes fusion), ``"nms"`` (keep one box per cluster) or ``"none"``.
        iou_thr: IoU at which two readers' boxes are the same finding.
        no_finding: class id whose rows are dropped (image-level "no finding"), or None.

    Returns:
        Columns ``image_id, class_id, x_min, y_min, x_max, y_max, n_readers`` (how many readers agreed on
        the box), sorted by image then class; within a group in ``ensemble_boxes``' output order.

    Raises:
        ValueError: an unknown method.
    """
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r}; choose from {METHODS}")
    findings = labels if no_finding is None else labels.loc[labels["class_id"] != no_finding]
    if findings.empty:
        return _empty()
    if method == "none":
        out = findings[["image_id", "class_id", *BOX_COLUMNS]].copy()
        out["n_readers"] = 1
        return out.sort_values(["image_id", "class_id"], kind="stable").reset_index(drop=True)[FUSED_COLUMNS]
    image_ids = findings["image_id"].astype(str).to_numpy()
    classes = findings["class_id"].to_numpy(np.int64)
    keys = pd.MultiIndex.from_arrays([image_ids, classes])
    uniq = keys.unique().sort_values()
    group = uniq.get_indexer(keys).astype(np.int64)
    if "rad_id" in findings:
        rad_names, readers = np.unique(findings["rad_id"].astype(str).to_numpy(), return_inverse=True)
        n_models = len(rad_names)
        per_group = pd.Series(readers).groupby(group).nunique().to_numpy()
    else:  # every row its own reader, in row order
        readers = pd.Series(np.zeros(len(group), np.int64)).groupby(group).cumcount().to_numpy()
        per_group = np.bincount(group, minlength=len(uniq))
        n_models = int(per_group.max())
    boxes = findings[BOX_COLUMNS].to_numpy(np.float64)
    scale_xy = pd.DataFrame(boxes[:, 2:]).groupby(group).max().to_numpy()
    scale_xy = np.maximum(scale_xy, 1.0)
    scale = scale_xy[:, [0, 1, 0, 1]]  # IoU and averages are scale-free
    flat = FlatBoxes(
        boxes / scale[group],
        np.ones(len(group)),
        np.zeros(len(group), np.int64),
        readers.astype(np.int64),
        group,
        n_models=n_models,
        n_images=len(uniq),
    )
    fused, count = _run(flat, method, iou_thr, boxes / scale[group], group)
    g = fused.images
    count = np.minimum(count, per_group[g])
    out = pd.DataFrame(fused.boxes * scale[g], columns=BOX_COLUMNS)
    out.insert(0, "class_id", uniq.get_level_values(1).to_numpy(np.int64)[g])
    out.insert(0, "image_id", uniq.get_level_values(0).to_numpy(dtype=object)[g])
    out["n_readers"] = count.astype(np.int64)
    return out[FUSED_COLUMNS]


def _run(flat: FlatBoxes, method: str, iou_thr: float, norm: np.ndarray, group: np.ndarray):
    """The fused boxes (grouped by group, ensemble-boxes' order) and the readers counted for each."""
    if method == "wbf":
        from cxrdet.ops.wbf import wbf_many

        fused = wbf_many(flat, iou_thr=iou_thr, skip_box_thr=0.0)
        # score = min(n_models, cluster size) / n_models (every score 1): the cluster size, capped
        return fused, np.rint(fused.scores * flat.n_models).astype(np.int64)
    from cxrdet.ops.nms import nms_many

    fused = nms_many(flat, iou_thr=iou_thr)
    return fused, _overlapping(fused.boxes, fused.images, norm, group, iou_thr)


def _overlapping(
    kept: np.ndarray, kept_group: np.ndarray, boxes: np.ndarray, group: np.ndarray, iou_thr: float
) -> np.ndarray:
    """For each kept box, how many boxes of its group overlap it with IoU >= ``iou_thr``."""
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(group.max() + 2))
    out = np.zeros(len(kept), np.int64)
    for k in range(len(kept)):
        g = kept_group[k]
        members = np.clip(boxes[order[starts[g] : starts[g + 1]]], 0.0, 1.0)
        out[k] = int((iou(kept[k], members) >= iou_thr).sum())
    return out


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``xyxy`` box with each of ``boxes`` (continuous coordinates, no "+1")."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)
