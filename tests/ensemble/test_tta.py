"""Test-time augmentation: flipped predictions mapped back by hand-computed coordinates, and their WBF merge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrdet.ensemble.tta import deaugment_table, flip_boxes, merge_tta
from cxrdet.errors import ConfigError, InputError
from cxrdet.structures import BoxTable

COLS = ["x_min", "y_min", "x_max", "y_max"]


def _table(boxes, classes, source="flipped.csv", height=1000.0, width=500.0):
    b = np.asarray(boxes, dtype=float)
    frame = pd.DataFrame(
        {"image_id": "a", "class_id": classes, "score": np.linspace(0.9, 0.5, len(b)), **dict(zip(COLS, b.T))}
    )
    images = pd.DataFrame({"height": [height], "width": [width]}, index=pd.Index(["a"], name="image_id"))
    return BoxTable(frame, images, source)


def test_flips_by_hand():
    box = [[10, 20, 110, 220]]  # in a 500 wide, 1000 high image
    np.testing.assert_array_equal(flip_boxes(box, 1000, 500, "h"), [[390, 20, 490, 220]])
    np.testing.assert_array_equal(flip_boxes(box, 1000, 500, "v"), [[10, 780, 110, 980]])
    np.testing.assert_array_equal(flip_boxes(box, 1000, 500, "hv"), [[390, 780, 490, 980]])
    np.testing.assert_array_equal(flip_boxes([[0, 0, 500, 1000]], 1000, 500, "hv"), [[0, 0, 500, 1000]])


def test_flip_round_trip_and_per_box_sizes():
    rng = np.random.default_rng(0)
    w, h = rng.uniform(500, 3000, 50), rng.uniform(500, 3000, 50)
    x1, y1 = rng.uniform(0, 0.5, 50) * w, rng.uniform(0, 0.5, 50) * h
    boxes = np.c_[x1, y1, x1 + 0.3 * w, y1 + 0.4 * h]
    for flip in ("h", "v", "hv"):
        once = flip_boxes(boxes, h, w, flip)
        assert (once[:, 2] >= once[:, 0]).all() and (once[:, 3] >= once[:, 1]).all()
        np.testing.assert_allclose(flip_boxes(once, h, w, flip), boxes, rtol=1e-12)
    np.testing.assert_allclose(flip_boxes(boxes, h, w, "h")[:, 0], w - boxes[:, 2])


def test_flip_needs_the_size_and_a_known_flip():
    with pytest.raises(ConfigError, match="width"):
        flip_boxes([[1, 2, 3, 4]], height=10, flip="h")
    with pytest.raises(ConfigError, match="height"):
        flip_boxes([[1, 2, 3, 4]], width=10, flip="v")
    with pytest.raises(ConfigError, match="unknown flip"):
        flip_boxes([[1, 2, 3, 4]], 10, 10, "d")


def test_deaugment_table_keeps_no_finding_boxes():
    table = _table([[10, 20, 110, 220], [0, 0, 1, 1]], [3, 14])
    back = deaugment_table(table, "h")
    np.testing.assert_array_equal(back.boxes[COLS].to_numpy(), [[390, 20, 490, 220], [0, 0, 1, 1]])
    pd.testing.assert_series_equal(back.boxes["score"], table.boxes["score"])
    assert table.boxes["x_min"].iloc[0] == 10  # input untouched


def test_deaugment_needs_sizes():
    table = _table([[10, 20, 110, 220]], [3], height=np.nan, width=np.nan)
    with pytest.raises(InputError, match=r"flipped\.csv: image a has no height/width"):
        deaugment_table(table, "h")
    sizes = pd.DataFrame({"height": [1000.0], "width": [500.0]}, index=pd.Index(["a"], name="image_id"))
    np.testing.assert_array_equal(deaugment_table(table, "h", sizes).boxes[COLS].to_numpy(), [[390, 20, 490, 220]])


def _rows(table: BoxTable) -> list[tuple]:
    return [(int(r.class_id), r.score, r.x_min, r.y_min, r.x_max, r.y_max) for r in table.boxes.itertuples()]


def test_merge_tta_fuses_original_with_mapped_back_predictions():
    """Expected values by hand: WBF averages a cluster's corners weighted by score x model weight, and its score
    is the mean of score x weight times min(models, boxes in the cluster) / the weights' sum (ensemble-boxes'
    "avg"); class 14 is the weighted mean over the models that predict it."""
    original = _table([[10, 20, 110, 220], [300, 300, 400, 500]], [3, 5], "orig.csv")  # scores 0.9, 0.5
    flipped = _table([[392, 18, 488, 224], [0, 0, 1, 1]], [3, 14])  # mirrored in a 500-wide image: [12 18 108 224]
    merged = merge_tta(original, flipped, "h", iou_thr=0.5)
    expected = [
        (3, 0.9, 11, 19, 109, 222),  # (10 + 12) / 2 ...; score 0.9 * 2 / 2
        (5, 0.25, 300, 300, 400, 500),  # seen by one of two views: 0.5 * 1 / 2
        (14, 0.5, 0, 0, 1, 1),
    ]  # only the flipped view predicts class 14
    np.testing.assert_allclose(_rows(merged), expected, atol=1e-4)
    # v-flip seen 3 px off: deaugmented [13 17 113 217] (0.9) and [303 297 403 497] (0.5); weights 2, 1, 1
    vflipped = _table(flip_boxes(original.boxes[COLS], 1000, 500, "v") + 3, [3, 5], "vflip.csv")
    several = merge_tta(original, [(flipped, "h"), (vflipped, "v")], weights=[2, 1, 1], iou_thr=0.5)
    expected = [
        (
            3,
            0.9,
            (10 * 1.8 + 12 * 0.9 + 13 * 0.9) / 3.6,
            (20 * 1.8 + 18 * 0.9 + 17 * 0.9) / 3.6,
            (110 * 1.8 + 108 * 0.9 + 113 * 0.9) / 3.6,
            (220 * 1.8 + 224 * 0.9 + 217 * 0.9) / 3.6,
        ),
        (5, (1.0 + 0.5) / 2 * 2 / 4, 301, 299, 401, 499),  # corners weighted 1.0 : 0.5
        (14, 0.5, 0, 0, 1, 1),
    ]
    np.testing.assert_allclose(_rows(several), expected, atol=1e-4)
