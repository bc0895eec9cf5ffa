"""Evaluation, secondary numbers: COCO-style mAP@0.4, @0.5 and @0.5:0.95 via pycocotools on the same boxes.

These are NOT the competition metric (that is :mod:`cxrdet.evaluation.voc`): COCO uses 101-point interpolated
precision and its own greedy matching. Boxes are converted from ``xyxy`` to COCO's ``[x, y, width, height]``
(the known public-notebook bug put xyxy in that field). ``maxDets`` is raised to the largest number of
boxes of one image and class so that, as in the VinDr metric, no prediction is cut off.
"""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np

from cxrdet.io.coco import categories, category_id
from cxrdet.structures import BOX_COLUMNS, VINDR, BoxTable, DatasetMeta

log = logging.getLogger(__name__)

COCO_KEYS = ("mAP@0.4", "mAP@0.5", "mAP@0.5:0.95")


def _xywh(frame) -> np.ndarray:
    xyxy = frame[list(BOX_COLUMNS)].to_numpy(np.float64)
    return np.column_stack([xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]])


def to_coco(gt: BoxTable, pred: BoxTable, meta: DatasetMeta = VINDR) -> tuple[dict, list[dict]]:
    """Ground truth as a COCO dataset dict and predictions as a COCO result list.

    Image ids are 1-based positions in ``gt.images``; category id = class_id + 1, the one convention of
    :data:`cxrdet.io.coco.CATEGORY_OFFSET` (the dataset json that ``convert`` writes uses it too).
    Predictions on images not in ``gt`` are dropped.
    """
    index = {image_id: i + 1 for i, image_id in enumerate(gt.images.index)}
    for image_id in gt.boxes["image_id"].unique():
        index.setdefault(image_id, len(index) + 1)
    images = [{"id": i, "file_name": str(k), "height": 0, "width": 0} for k, i in index.items()]
    cats = categories(meta)
    xywh = _xywh(gt.boxes)
    gt_img = gt.boxes["image_id"].map(index).to_numpy()
    gt_cls = gt.boxes["class_id"].to_numpy()
    anns = [
        {
            "id": n + 1,
            "image_id": int(gt_img[n]),
            "category_id": int(category_id(gt_cls[n])),
            "bbox": [float(v) for v in xywh[n]],
            "area": float(xywh[n, 2] * xywh[n, 3]),
            "iscrowd": 0,
        }
        for n in range(len(xywh))
    ]
    keep = pred.boxes["image_id"].isin(index.keys()).to_numpy()
    if not keep.all():
        log.warning("COCO: ignored %d predictions on images without ground truth entry", int((~keep).sum()))
    pb = pred.boxes[keep]
    pxywh = _xywh(pb)
    p_img = pb["image_id"].map(index).to_numpy()
    p_cls, p_score = pb["class_id"].to_numpy(), pb["score"].to_numpy()
    results = [
        {
            "image_id": int(p_img[n]),
            "category_id": int(category_id(p_cls[n])),
            "bbox": [float(v) for v in pxywh[n]],
            "score": float(p_score[n]),
        }
        for n in range(len(pxywh))
    ]
    return {"images": images, "annotations": anns, "categories": cats}, results


def _max_per_image_class(pred: BoxTable) -> int:
    if not len(pred):
        return 100
    return max(100, int(pred.boxes.groupby(["image_id", "class_id"]).size().max()))


def _mean_ap(ev) -> float:
    """What ``COCOeval.summarize`` reports as AP (area "all", largest maxDets); summarize itself only
    looks at maxDets=100, which we may have raised."""
    precision = ev.eval["precision"][:, :, :, 0, -1]  # [iou, recall, class, area, maxDets]
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else float("nan")


def coco_map(gt: BoxTable, pred: BoxTable, meta: DatasetMeta = VINDR) -> dict[str, float]:
    """COCO mAP at IoU 0.4, 0.5 and 0.5:0.95 (area "all", every prediction kept).

    Returns:
        ``{"mAP@0.4": ..., "mAP@0.5": ..., "mAP@0.5:0.95": ...}``; 0.0 for all when there are no predictions,
        NaN when the ground truth has no boxes.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not len(gt):
        return {k: float("nan") for k in COCO_KEYS}
    dataset, results = to_coco(gt, pred, meta)
    if not results:
        return {k: 0.0 for k in COCO_KEYS}
    max_dets = _max_per_image_class(pred)
    out: dict[str, float] = {}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and tables
        coco_gt = COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        for key, thrs in (("mAP@0.4", [0.4]), ("mAP@0.5", [0.5]), ("mAP@0.5:0.95", np.linspace(0.5, 0.95, 10))):
            ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
            ev.params.iouThrs = np.asarray(thrs, dtype=np.float64)
            ev.params.maxDets = [1, 10, max_dets]
            ev.evaluate()
            ev.accumulate()
            out[key] = _mean_ap(ev)
    return out
