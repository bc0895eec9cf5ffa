"""COCO numbers: xyxy -> xywh done right (hand case), and equal to pycocotools run directly on the same boxes."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from cxrdet.evaluation.coco import coco_map, to_coco
from cxrdet.structures import BoxTable


def table(rows, images=None):
    frame = pd.DataFrame(rows, columns=["image_id", "class_id", "score", "x_min", "y_min", "x_max", "y_max"])
    return BoxTable(frame, BoxTable.empty(images).images if images else None)


def test_boxes_are_converted_to_xywh():
    gt = table([("a", 0, 1.0, 100, 100, 200, 200)])
    # IoU 0.45 in xyxy: matched at 0.4, not at 0.5. Read as xywh (the public-notebook bug) it would be 0.725.
    pred = table([("a", 0, 0.9, 100, 100, 200, 145)])
    dataset, results = to_coco(gt, pred)
    assert dataset["annotations"][0]["bbox"] == [100.0, 100.0, 100.0, 100.0]
    assert results[0]["bbox"] == [100.0, 100.0, 100.0, 45.0]
    out = coco_map(gt, pred)
    assert out["mAP@0.4"] == pytest.approx(1.0)
    assert out["mAP@0.5"] == pytest.approx(0.0)


def test_empty_predictions_and_empty_gt():
    gt = table([("a", 0, 1.0, 0, 0, 10, 10)])
    assert coco_map(gt, BoxTable.empty(["a"])) == {"mAP@0.4": 0.0, "mAP@0.5": 0.0, "mAP@0.5:0.95": 0.0}
    assert all(np.isnan(v) for v in coco_map(BoxTable.empty(["a"]), gt).values())


def reference(gt_rows, pred_rows, ids, iou_thrs):
    """pycocotools directly (its own summary), on dicts built here by hand; < 100 boxes per image and class."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    img = {k: i + 7 for i, k in enumerate(ids)}  # arbitrary ids: only the mapping matters
    ds = {
        "images": [{"id": v} for v in img.values()],
        "categories": [{"id": c + 100} for c in range(15)],
        "annotations": [
            {
                "id": n + 1,
                "image_id": img[r[0]],
                "category_id": r[1] + 100,
                "iscrowd": 0,
                "bbox": [r[3], r[4], r[5] - r[3], r[6] - r[4]],
                "area": (r[5] - r[3]) * (r[6] - r[4]),
            }
            for n, r in enumerate(gt_rows)
        ],
    }
    dets = [
        {
            "image_id": img[r[0]],
            "category_id": r[1] + 100,
            "score": r[2],
            "bbox": [r[3], r[4], r[5] - r[3], r[6] - r[4]],
        }
        for r in pred_rows
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = ds
        cg.createIndex()
        ev = COCOeval(cg, cg.loadRes(dets), "bbox")
        ev.params.iouThrs = np.asarray(iou_thrs, float)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0]


def test_more_than_100_boxes_per_image_are_all_kept():
    gt = table([("a", 0, 1.0, 0, 0, 10, 10)])
    # 150 misses outrank the one hit: COCO's default maxDets=100 would drop the hit (AP 0)
    misses = [("a", 0, 0.9, 50 + k, 50, 60 + k, 60) for k in range(150)]
    out = coco_map(gt, table(misses + [("a", 0, 0.1, 0, 0, 10, 10)]))
    assert 0.0 < out["mAP@0.4"] < 0.01  # precision 1/151 at recall 1


def test_random_data_matches_pycocotools():
    rng = np.random.default_rng(3)
    ids = [f"i{k}" for k in range(10)]
    gt_rows, pred_rows = [], []
    for _ in range(40):
        x, y, w, h = rng.uniform(0, 500), rng.uniform(0, 500), rng.uniform(10, 200), rng.uniform(10, 200)
        img, cls = ids[rng.integers(0, 10)], int(rng.integers(0, 4))
        gt_rows.append((img, cls, 1.0, x, y, x + w, y + h))
        for _ in range(3):
            dx, dy = rng.normal(0, 0.2 * w), rng.normal(0, 0.2 * h)
            pred_rows.append((img, cls, float(rng.random()), x + dx, y + dy, x + dx + w, y + dy + h))
    got = coco_map(table(gt_rows, ids), table(pred_rows))
    assert got["mAP@0.4"] == pytest.approx(reference(gt_rows, pred_rows, ids, [0.4]), abs=1e-12)
    assert got["mAP@0.5"] == pytest.approx(reference(gt_rows, pred_rows, ids, [0.5]), abs=1e-12)
    assert got["mAP@0.5:0.95"] == pytest.approx(
        reference(gt_rows, pred_rows, ids, np.linspace(0.5, 0.95, 10)), abs=1e-12
    )
    assert 0.0 < got["mAP@0.5:0.95"] < got["mAP@0.5"] <= got["mAP@0.4"] <= 1.0
