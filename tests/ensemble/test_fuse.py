"""Pixel-level ensembling of prediction tables: parity with ensemble-boxes, class-14 handling, input errors."""

from __future__ import annotations

import ensemble_boxes
import numpy as np
import pandas as pd
import pytest
from ensemble_cases import assert_same, oracle

from cxrdet.ensemble.fuse import ensemble_tables, fuse, prepare
from cxrdet.errors import ConfigError, InputError
from cxrdet.io.sizes import read_sizes
from cxrdet.structures import BoxTable

COLS = ["x_min", "y_min", "x_max", "y_max"]


def _table(rng, ids, hw, name, p_normal=0.5, n_max=12, sizes=True):
    rows = []
    for i, image in enumerate(ids):
        k = int(rng.integers(0, n_max))
        h, w = hw[i]
        x1, y1 = rng.uniform(-20, w * 0.8, k), rng.uniform(0, h * 0.8, k)
        rows.append(
            pd.DataFrame(
                {
                    "image_id": image,
                    "class_id": rng.integers(0, 14, k),
                    "score": np.round(rng.uniform(0, 1, k), 2),
                    "x_min": x1,
                    "y_min": y1,
                    "x_max": x1 + rng.uniform(1, w * 0.3, k),
                    "y_max": y1 + rng.uniform(1, h * 0.3, k),
                }
            )
        )
        if rng.uniform() < p_normal:
            rows.append(
                pd.DataFrame(
                    {
                        "image_id": [image],
                        "class_id": [14],
                        "score": [rng.uniform()],
                        "x_min": [0.0],
                        "y_min": [0.0],
                        "x_max": [1.0],
                        "y_max": [1.0],
                    }
                )
            )
    images = pd.DataFrame(
        {"height": hw[:, 0] if sizes else np.nan, "width": hw[:, 1] if sizes else np.nan},
        index=pd.Index(ids, name="image_id"),
    )
    return BoxTable(pd.concat(rows, ignore_index=True), images, name)


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    ids = [f"img{i:02d}" for i in range(25)]
    hw = rng.integers(1500, 3500, (len(ids), 2)).astype(float)
    return ids, hw, [_table(rng, ids, hw, f"model{t}.csv") for t in range(3)]


def _per_image_oracle(fn, tables, image, hw, **kwargs):
    scale = np.array([hw[1], hw[0], hw[1], hw[0]])
    parts = [t.boxes[(t.boxes.image_id == image) & (t.boxes.class_id != 14)] for t in tables]
    b, s, lab = oracle(
        fn,
        [p[COLS].to_numpy() / scale for p in parts],
        [p.score.to_numpy() for p in parts],
        [p.class_id.to_numpy() for p in parts],
        **kwargs,
    )
    finite = np.isfinite(b).all(axis=1)  # ensemble_tables drops the NaN boxes of all-zero-score clusters
    return b[finite] * scale, s[finite], lab[finite]


@pytest.mark.parametrize(
    "method,fn,kwargs",
    [
        ("wbf", ensemble_boxes.weighted_boxes_fusion, dict(iou_thr=0.5, skip_box_thr=0.1, conf_type="max")),
        ("wbf", ensemble_boxes.weighted_boxes_fusion, dict(iou_thr=0.3, allows_overflow=True)),
        ("nmw", ensemble_boxes.non_maximum_weighted, dict(iou_thr=0.4)),
        ("soft_nms", ensemble_boxes.soft_nms, dict(iou_thr=0.4, sigma=0.3, thresh=0.02)),
        ("nms", ensemble_boxes.nms, dict(iou_thr=0.4)),
    ],
)
def test_pixel_tables_match_ensemble_boxes_per_image(setup, method, fn, kwargs, caplog):
    ids, hw, tables = setup
    out = ensemble_tables(tables, method, weights=[1, 2, 1], **kwargs)
    assert "model0.csv: " in caplog.text and "reach outside their image" in caplog.text  # x_min from -20
    assert list(out.images.index) == ids
    np.testing.assert_array_equal(out.images[["height", "width"]].to_numpy(), hw)
    b = out.boxes[out.boxes.class_id != 14]
    for i, image in enumerate(ids):
        mine = b[b.image_id == image]
        theirs = _per_image_oracle(fn, tables, image, hw[i], weights=[1, 2, 1], **kwargs)
        assert_same((mine[COLS].to_numpy(), mine.score.to_numpy(), mine.class_id.to_numpy()), theirs)


def test_no_finding_is_the_weighted_mean_over_models(setup):
    ids, _hw, tables = setup
    out = ensemble_tables(tables, weights=[1, 2, 3])
    normal = out.boxes[out.boxes.class_id == 14].set_index("image_id")
    assert (normal[COLS].to_numpy() == [0, 0, 1, 1]).all()
    for image in ids:
        given = [t.boxes[(t.boxes.image_id == image) & (t.boxes.class_id == 14)].score for t in tables]
        if not any(len(g) for g in given):
            assert image not in normal.index
            continue
        expected = sum(w * (g.max() if len(g) else 0.0) for w, g in zip([1, 2, 3], given)) / 6
        assert normal.loc[image, "score"] == pytest.approx(expected, abs=1e-12)
        rows = out.boxes[out.boxes.image_id == image]
        assert rows.class_id.iloc[-1] == 14  # after the image's fused boxes


def test_model_without_class_14_is_left_out_of_the_mean(setup):
    _ids, _hw, tables = setup
    detector = BoxTable(tables[0].boxes[tables[0].boxes.class_id != 14], tables[0].images, "detector.csv")
    classifier_boxes = tables[1].boxes[tables[1].boxes.class_id == 14]
    classifier = BoxTable(classifier_boxes, tables[1].images, "classifier.csv")
    out = ensemble_tables([detector, classifier])
    normal = out.boxes[out.boxes.class_id == 14].set_index("image_id")["score"]
    expected = classifier_boxes.set_index("image_id")["score"]
    pd.testing.assert_series_equal(normal.sort_index(), expected.sort_index(), check_names=False)


def test_missing_images(setup):
    ids, _hw, tables = setup
    short = tables[1].subset(ids[:-3])
    with pytest.raises(InputError, match=r"model1\.csv: 3 images are missing \(first: img22, present in model0\.csv\)"):
        ensemble_tables([tables[0], short, tables[2]])
    out = ensemble_tables([tables[0], short, tables[2]], missing="empty")
    emptied = BoxTable(short.boxes, tables[1].images, "model1.csv")
    expected = ensemble_tables([tables[0], emptied, tables[2]])
    pd.testing.assert_frame_equal(out.boxes, expected.boxes)
    assert list(out.images.index) == ids


@pytest.mark.parametrize(
    "column,value,message",
    [
        ("score", np.nan, "score is NaN"),
        ("score", -0.1, r"score must be in \[0, 1\]"),
        ("score", 1.5, r"score must be in \[0, 1\]"),
        ("x_min", np.inf, "a coordinate is NaN or infinite"),
        ("x_max", -5.0, "x_max < x_min"),
        ("y_max", -5.0, "y_max < y_min"),
        ("class_id", 15, "class_id must be an integer in 0..14"),
    ],
)
def test_bad_values_name_the_file_and_box(setup, column, value, message):
    _ids, _hw, tables = setup
    boxes = tables[2].boxes.copy()
    boxes.loc[4, column] = value
    bad = BoxTable(boxes, tables[2].images, "bad.csv")
    with pytest.raises(InputError, match=rf"bad\.csv: box 5 \(image {boxes.image_id[4]}\): {message}"):
        ensemble_tables([tables[0], bad])


def test_bad_options(setup):
    _ids, _hw, tables = setup
    with pytest.raises(ConfigError, match="2 weights for 3"):
        ensemble_tables(tables, weights=[1, 2])
    with pytest.raises(ConfigError, match="> 0"):
        ensemble_tables(tables, weights=[1, 0, 1])
    with pytest.raises(ConfigError, match="unknown ensemble method"):
        ensemble_tables(tables, method="vote")
    with pytest.raises(ConfigError, match="conf_type"):
        ensemble_tables(tables, conf_type="mean")
    with pytest.raises(ConfigError, match="no prediction tables"):
        ensemble_tables([])
    with pytest.raises(ConfigError, match="missing"):
        ensemble_tables(tables, missing="ignore")


def test_sizes(setup, tmp_path):
    ids, hw, _tables = setup
    rng = np.random.default_rng(5)
    unsized = [_table(rng, ids, hw, f"nosize{t}.csv", sizes=False) for t in range(2)]
    with pytest.raises(InputError, match=r"no height/width.*img00"):
        ensemble_tables(unsized)
    path = tmp_path / "meta.csv"
    pd.DataFrame({"image_id": ids, "original_height": hw[:, 0], "original_width": hw[:, 1]}).to_csv(path, index=False)
    with_sizes = ensemble_tables(unsized, sizes=read_sizes(path))
    sized = [
        BoxTable(
            t.boxes,
            pd.DataFrame({"height": hw[:, 0], "width": hw[:, 1]}, index=pd.Index(ids, name="image_id")),
            t.source,
        )
        for t in unsized
    ]
    pd.testing.assert_frame_equal(with_sizes.boxes, ensemble_tables(sized).boxes)
    by_max = ensemble_tables(unsized, unknown_size="max")
    assert by_max.images["height"].isna().all()  # sizes stay unknown in the output
    both = pd.concat([t.boxes for t in unsized]).groupby("image_id")[["y_max", "x_max"]].max().reindex(ids)
    max_sized = [BoxTable(t.boxes, both.set_axis(["height", "width"], axis=1), t.source) for t in unsized]
    pd.testing.assert_frame_equal(by_max.boxes, ensemble_tables(max_sized).boxes)
    conflicting = BoxTable(sized[1].boxes, sized[1].images * 2, "other.csv")
    with pytest.raises(InputError, match=r"other\.csv: image img00 is"):
        ensemble_tables([sized[0], conflicting])


def test_prepared_input_gives_the_same_result_for_every_call(setup):
    _ids, _hw, tables = setup
    prep = prepare(tables)
    first = fuse(prep, "wbf", [1, 1, 2], iou_thr=0.5)
    again = fuse(prep, "wbf", [1, 1, 2], iou_thr=0.5)
    pd.testing.assert_frame_equal(first.boxes, again.boxes)
    pd.testing.assert_frame_equal(first.boxes, ensemble_tables(tables, weights=[1, 1, 2], iou_thr=0.5).boxes)


def test_clusters_of_zero_scores_are_dropped_not_nan(setup, caplog):
    ids, _hw, tables = setup
    boxes = pd.DataFrame(
        {
            "image_id": ids[0],
            "class_id": 3,
            "score": 0.0,
            "x_min": [10.0, 12.0],
            "y_min": [10.0, 10.0],
            "x_max": [200.0, 202.0],
            "y_max": [300.0, 300.0],
        }
    )
    table = BoxTable(boxes, tables[0].images, "zeros.csv")
    theirs = oracle(
        ensemble_boxes.weighted_boxes_fusion,
        [boxes[COLS].to_numpy() / 4000],
        [boxes.score.to_numpy()],
        [boxes.class_id.to_numpy()],
    )
    assert np.isnan(theirs[0]).all()  # ensemble-boxes divides by the cluster's zero score sum
    out = ensemble_tables([table, table])
    assert len(out) == 0 and "all scored 0" in caplog.text


def test_fused_boxes_stay_inside_the_image_when_float32_rounds_past_the_edge():
    from cxrdet.ensemble.fuse import _pixel_rows

    edge = np.nextafter(np.float32(1.0), np.float32(2.0))  # a weighted mean of 1.0s can land here
    boxes = np.array([[np.float32(-1e-7), 0.25, edge, edge]], np.float32)
    block, *_ = _pixel_rows(
        np.array([0]),
        boxes,
        np.array([0.5], np.float32),
        np.array([3]),
        np.array([0]),
        np.array([1024.0]),
        np.array([768.0]),
        np.array([], np.int64),
        np.array([], np.float64),
        14,
        np.array([0.0, 0.0, 1.0, 1.0]),
    )
    assert block[0].tolist() == [0.5, 0.0, 192.0, 1024.0, 768.0]
