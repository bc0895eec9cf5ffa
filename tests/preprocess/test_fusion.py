"""Reader fusion against ensemble-boxes called directly, and the n_readers count."""

import numpy as np
import pandas as pd
import pytest
from ensemble_boxes import weighted_boxes_fusion

from cxrdet.preprocess.fusion import fuse_readers


def readers_frame(rows):
    return pd.DataFrame(rows, columns=["image_id", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"])


def test_wbf_equals_ensemble_boxes_per_image_and_class():
    rng = np.random.default_rng(1)
    rows = []
    for image in ("i1", "i2"):
        for c in (3, 8):
            base = rng.uniform(100, 1500, 2)
            for r in ("R1", "R2", "R3"):
                x, y = base + rng.normal(0, 15, 2)
                rows.append((image, c, r, x, y, x + 300, y + 200))
        rows.append((image, 8, "R2", 2500.0, 2500.0, 2600.0, 2700.0))  # a finding only one reader saw
        rows.append((image, 14, "R1", np.nan, np.nan, np.nan, np.nan))
    frame = readers_frame(rows)
    fused = fuse_readers(frame, "wbf", iou_thr=0.4)
    for (image, c), group in frame[frame.class_id != 14].groupby(["image_id", "class_id"]):
        scale = 3000.0
        lists = [
            (group[group.rad_id == r][["x_min", "y_min", "x_max", "y_max"]].to_numpy() / scale).tolist()
            for r in sorted(group.rad_id.unique())
        ]
        boxes, scores, _ = weighted_boxes_fusion(
            lists, [[1.0] * len(b) for b in lists], [[0] * len(b) for b in lists], iou_thr=0.4, skip_box_thr=0.0
        )
        ours = fused[(fused.image_id == image) & (fused.class_id == c)]
        mine = ours[["x_min", "y_min", "x_max", "y_max"]].to_numpy()
        order_ref, order_mine = np.lexsort(boxes.T[::-1]), np.lexsort(mine.T[::-1])
        np.testing.assert_allclose(mine[order_mine], boxes[order_ref] * scale, rtol=1e-4)
        np.testing.assert_array_equal(
            np.sort(ours.n_readers.to_numpy()), np.sort(np.rint(scores * len(lists)).astype(int))
        )
    assert set(fused.class_id) == {3, 8}  # class 14 never becomes a box
    assert sorted(fused[(fused.image_id == "i1") & (fused.class_id == 8)].n_readers) == [1, 3]


def test_wbf_by_hand():
    """Three readers' boxes of one finding: equal scores, so the fused box is their plain mean; a lone box stays."""
    frame = readers_frame(
        [
            ("a", 3, "R1", 100, 100, 200, 200),
            ("a", 3, "R2", 110, 100, 210, 200),
            ("a", 3, "R3", 90, 110, 190, 210),
            ("a", 3, "R2", 600, 600, 700, 650),
            ("a", 5, "R1", 100, 100, 200, 200),
            ("b", 3, "R1", 10, 10, 20, 20),
        ]
    )
    fused = fuse_readers(frame, "wbf", iou_thr=0.4).sort_values(["image_id", "class_id", "x_min"])
    got = fused[["image_id", "class_id", "x_min", "y_min", "x_max", "y_max", "n_readers"]].to_numpy().tolist()
    expected = [
        ["a", 3, 100, 310 / 3, 200, 610 / 3, 3],
        ["a", 3, 600, 600, 700, 650, 1],
        ["a", 5, 100, 100, 200, 200, 1],
        ["b", 3, 10, 10, 20, 20, 1],
    ]
    assert [row[:2] for row in got] == [row[:2] for row in expected]
    assert [row[-1] for row in got] == [row[-1] for row in expected]
    np.testing.assert_allclose(
        np.array([row[2:6] for row in got], float), np.array([row[2:6] for row in expected], float), rtol=1e-5
    )


def test_nms_and_none():
    frame = readers_frame([("a", 0, "R1", 0, 0, 10, 10), ("a", 0, "R2", 1, 1, 11, 11), ("a", 0, "R3", 50, 50, 60, 60)])
    none = fuse_readers(frame, "none")
    assert len(none) == 3 and (none.n_readers == 1).all()
    nms = fuse_readers(frame, "nms", iou_thr=0.4)
    assert sorted(nms.n_readers) == [1, 2] and len(nms) == 2


def _reference(frame, method, iou_thr):
    """ensemble-boxes called group by group, as reader fusion did before the compiled kernels."""
    from ensemble_boxes import nms

    out = {}
    for (image, c), group in frame.groupby(["image_id", "class_id"]):
        boxes = group[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float)
        scale = np.maximum(boxes.max(axis=0)[[2, 3, 2, 3]], 1.0)
        readers = sorted(set(group.rad_id))
        lists = [(boxes[group.rad_id.to_numpy() == r] / scale).tolist() for r in readers]
        ones, zeros = [[1.0] * len(b) for b in lists], [[0] * len(b) for b in lists]
        if method == "wbf":
            fused, scores, _ = weighted_boxes_fusion(lists, ones, zeros, iou_thr=iou_thr, skip_box_thr=0.0)
            counts = np.rint(np.asarray(scores) * len(readers)).astype(int)
        else:
            fused, _, _ = nms(lists, ones, zeros, iou_thr=iou_thr)
            counts = None
        out[(image, c)] = (np.asarray(fused).reshape(-1, 4) * scale, counts)
    return out


@pytest.mark.parametrize("method", ["wbf", "nms"])
def test_many_groups_at_once_equal_ensemble_boxes_group_by_group(method):
    """The one-call compiled fusion over 60 images x 4 classes gives ensemble-boxes' boxes (and counts) per group."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(60):
        for c in rng.choice(14, 4, replace=False):
            base = rng.uniform(50, 2000, 2)
            for r in rng.choice(["R1", "R2", "R3", "R9", "R10"], 3, replace=False):
                for _ in range(rng.integers(1, 3)):
                    x, y = base + rng.normal(0, 40, 2)
                    rows.append((f"img{i:02d}", int(c), r, x, y, x + rng.uniform(50, 400), y + rng.uniform(50, 400)))
        rows.append((f"img{i:02d}", 14, "R1", np.nan, np.nan, np.nan, np.nan))
    frame = readers_frame(rows)
    fused = fuse_readers(frame, method, iou_thr=0.4)
    reference = _reference(frame[frame.class_id != 14], method, 0.4)
    assert list(fused.groupby(["image_id", "class_id"], sort=True).groups) == sorted(reference)
    for key, (boxes, counts) in reference.items():
        ours = fused[(fused.image_id == key[0]) & (fused.class_id == key[1])]
        mine = ours[["x_min", "y_min", "x_max", "y_max"]].to_numpy()
        order_ref, order_mine = np.lexsort(boxes.T[::-1]), np.lexsort(mine.T[::-1])
        np.testing.assert_allclose(mine[order_mine], boxes[order_ref], rtol=1e-12, atol=1e-9)
        if counts is not None:
            np.testing.assert_array_equal(ours.n_readers.to_numpy()[order_mine], counts[order_ref])
    assert (fused.n_readers >= 1).all() and (fused.n_readers <= 3).all()
