"""Prediction tables: every format read back exactly, every bad value reported with its line, fast enough."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrdet.errors import InputError
from cxrdet.io.prediction_strings import EMPTY_PREDICTION, format_prediction_strings, write_kaggle
from cxrdet.io.predictions import read_table, write_predictions
from cxrdet.structures import BoxTable, Detections

HEADER = "image_id,class_id,score,x_min,y_min,x_max,y_max"


def write(tmp_path, text, name="p.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def sample_table():
    boxes = pd.DataFrame(
        {
            "image_id": ["a", "a", "1e10"],
            "class_id": [3, 14, 0],
            "score": [0.5, 0.1234567891234, 1e-5],
            "x_min": [10.25, 0, 1],
            "y_min": [20.5, 0, 2],
            "x_max": [30.125, 1, 3],
            "y_max": [40, 1, 4],
        }
    )
    images = BoxTable.empty(["a", "00empty", "1e10"]).images
    images.loc["a", ["height", "width"]] = [3000.0, 2500.0]
    return BoxTable(boxes, images, "mem")


@pytest.mark.parametrize("name", ["p.csv", "p.parquet"])
def test_prediction_file_round_trip(tmp_path, name):
    t = sample_table()
    write_predictions(t, tmp_path / name)
    back = read_table(tmp_path / name)
    pd.testing.assert_frame_equal(back.boxes, t.boxes)
    assert list(back.images.index) == ["a", "1e10", "00empty"]  # empty images are written after the boxes
    assert back.images.loc["a"].tolist() == [3000.0, 2500.0]
    assert back.images.loc["00empty"].isna().all()
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write leaves no temporary file


def test_ids_stay_strings_and_empty_rows_list_images(tmp_path):
    path = write(tmp_path, f"{HEADER}\n0012,1,0.5,1,2,3,4\n1e5,,,,,,\n")
    t = read_table(path)
    assert list(t.images.index) == ["0012", "1e5"]
    assert t.boxes["image_id"].tolist() == ["0012"]
    assert t.boxes.dtypes["class_id"] == np.int64


def test_gt_role_sets_scores_to_one_and_needs_no_score(tmp_path):
    path = write(tmp_path, "image_id,class_id,x_min,y_min,x_max,y_max\na,2,1,2,3,4\n")
    assert read_table(path, role="gt").boxes["score"].tolist() == [1.0]
    with pytest.raises(InputError, match="score"):
        read_table(path, role="pred")


def test_kaggle_csv(tmp_path):
    path = write(tmp_path, "image_id,PredictionString\na,0 0.5 1 2 3 4 14 0.25 0 0 1 1\nb,\nc,14 1 0 0 1 1\n")
    t = read_table(path)
    assert list(t.images.index) == ["a", "b", "c"]
    assert t.boxes.values.tolist() == [
        ["a", 0, 0.5, 1.0, 2.0, 3.0, 4.0],
        ["a", 14, 0.25, 0.0, 0.0, 1.0, 1.0],
        ["c", 14, 1.0, 0.0, 0.0, 1.0, 1.0],
    ]
    assert read_table(path, role="gt").boxes["score"].tolist() == [1.0, 1.0, 1.0]


def test_write_kaggle_exact_and_empty_images(tmp_path):
    t = sample_table()
    write_kaggle(t, tmp_path / "k.csv")
    text = (tmp_path / "k.csv").read_text().splitlines()
    assert text[0] == "image_id,PredictionString"
    assert text[2] == f"00empty,{EMPTY_PREDICTION}"
    back = read_table(tmp_path / "k.csv").boxes
    kept = back[back["image_id"] != "00empty"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, t.boxes)  # shortest round-trip floats: nothing lost
    # an image without boxes reads back as the "No finding" box the Kaggle format uses for it
    assert back[back["image_id"] == "00empty"].iloc[:, 1:].values.tolist() == [[14, 1.0, 0.0, 0.0, 1.0, 1.0]]
    write_kaggle(t, tmp_path / "k2.csv", image_ids=["1e10", "a"])
    assert [r.split(",")[0] for r in (tmp_path / "k2.csv").read_text().splitlines()[1:]] == ["1e10", "a"]
    with pytest.raises(InputError, match="not in the"):
        write_kaggle(t, tmp_path / "k3.csv", image_ids=["zz"])


def test_format_prediction_strings_groups_per_image_in_row_order():
    t = BoxTable(
        pd.DataFrame(
            {
                "image_id": ["b", "a", "b"],
                "class_id": [1, 2, 3],
                "score": [0.5, 0.25, 1.0],
                "x_min": [0.0] * 3,
                "y_min": [0.0] * 3,
                "x_max": [5.5] * 3,
                "y_max": [6.0] * 3,
            }
        )
    )
    s = format_prediction_strings(t)
    assert s.to_dict() == {"b": "1 0.5 0 0 5.5 6 3 1 0 0 5.5 6", "a": "2 0.25 0 0 5.5 6"}


def test_vindr_train_csv(tmp_path):
    rows = [
        "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max",
        "n1,No finding,14,R1,,,,",
        "n1,No finding,14,R2,,,,",
        "n1,No finding,14,R3,,,,",
        "f1,Nodule/Mass,8,R1,100,100,200,200",
        "f1,Nodule/Mass,8,R2,110,104,210,190",
        "f1,Nodule/Mass,8,R3,600,600,700,650",
    ]
    path = write(tmp_path, "\n".join(rows) + "\n", "train.csv")
    t = read_table(path, role="gt")
    assert len(t) == 6 and list(t.images.index) == ["n1", "f1"]
    assert t.boxes.iloc[0][["x_min", "y_min", "x_max", "y_max"]].tolist() == [0.0, 0.0, 1.0, 1.0]
    fused = read_table(path, role="gt", gt_fuse="wbf")
    b = fused.boxes
    assert (b["class_id"] == 14).sum() == 1  # one "No finding" box per normal image
    nodules = b[b["class_id"] == 8].sort_values("x_min")[["x_min", "y_min", "x_max", "y_max"]].to_numpy()
    # the two overlapping readers average (equal weights); the third box stays alone
    np.testing.assert_allclose(nodules, [[105, 102, 205, 195], [600, 600, 700, 650]])


def test_vindr_fusion_matches_ensemble_boxes(tmp_path):
    from ensemble_boxes import weighted_boxes_fusion

    rng = np.random.default_rng(1)
    base = rng.uniform(0, 800, (4, 2))
    lines = ["image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max,height,width"]
    per_reader = {}
    for r in ("R1", "R2", "R3"):
        xy = base + rng.normal(0, 10, base.shape)
        per_reader[r] = np.c_[xy, xy + 150]
        lines += [f"img,Other lesion,9,{r},{b[0]},{b[1]},{b[2]},{b[3]},1000,1000" for b in per_reader[r]]
    path = write(tmp_path, "\n".join(lines) + "\n")
    got = read_table(path, role="gt", gt_fuse="wbf").boxes[["x_min", "y_min", "x_max", "y_max"]].to_numpy()
    scale = np.concatenate(list(per_reader.values())).max(axis=0)[[2, 3, 2, 3]]
    ref, _, _ = weighted_boxes_fusion(
        [(b / scale).tolist() for b in per_reader.values()],
        [[1.0] * 4] * 3,
        [[0] * 4] * 3,
        iou_thr=0.4,
        skip_box_thr=0.0,
    )
    ref = np.asarray(ref) * scale
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(order(got), order(ref), rtol=1e-9)


BAD = [
    ("a,1,0.5,1,2,3,4\na,1,nan,1,2,3,4\n", 3, "empty"),
    ("a,1,0.5,1,2,3,4\na,1,0.5,1,2,inf,4\n", 3, "infinite"),
    ("a,1,0.5,1,2,3,4\na,1,0.5,5,2,3,4\n", 3, "x_max < x_min"),
    ("a,1,0.5,1,2,3,4\na,1,0.5,1,5,3,4\n", 3, "y_max < y_min"),
    ("a,15,0.5,1,2,3,4\n", 2, "class_id"),
    ("a,1.5,0.5,1,2,3,4\n", 2, "class_id"),
    ("a,-1,0.5,1,2,3,4\n", 2, "class_id"),
    ("a,1,1.2,1,2,3,4\n", 2, r"score must be in \[0, 1\]"),
    ("a,1,0.5,1,2,3,4\na,1,0.5,abc,2,3,4\n", 3, "not a number"),
    ("a,1,0.5,1,2,3,4\n,1,0.5,1,2,3,4\n", 3, "empty image_id"),
]


@pytest.mark.parametrize("body,line,reason", BAD)
def test_bad_values_name_file_and_line(tmp_path, body, line, reason):
    path = write(tmp_path, f"{HEADER}\n{body}")
    with pytest.raises(InputError, match=reason) as err:
        read_table(path)
    assert err.value.row == line and err.value.path == str(path)


def test_many_bad_lines_are_summarised(tmp_path):
    body = "".join(f"a,1,{2 if i % 2 else 0.5},1,2,3,4\n" for i in range(20))
    with pytest.raises(InputError) as err:
        read_table(write(tmp_path, f"{HEADER}\n{body}"))
    assert err.value.row == 3 and "also lines 5, 7, 9, 11, 13" in str(err.value) and "10 in all" in str(err.value)


def test_missing_columns_and_missing_option(tmp_path):
    with pytest.raises(InputError, match="missing column"):
        read_table(write(tmp_path, "image_id,score\na,0.5\n"))
    path = write(tmp_path, f"{HEADER}\na,1,0.5,1,2,3,4\nb,1,,1,2,3,4\n")
    t = read_table(path, missing="drop")
    assert len(t) == 1 and list(t.images.index) == ["a", "b"]


def test_kaggle_errors(tmp_path):
    with pytest.raises(InputError, match="multiple of 6") as err:
        read_table(write(tmp_path, "image_id,PredictionString\na,14 1 0 0 1 1\nb,1 2 3\n"))
    assert err.value.row == 3
    with pytest.raises(InputError, match="not a number") as err:
        read_table(write(tmp_path, "image_id,PredictionString\na,14 1 0 0 1 x\n"))
    assert err.value.row == 2
    with pytest.raises(InputError, match="listed twice") as err:
        read_table(write(tmp_path, "image_id,PredictionString\na,\na,\n"))
    assert err.value.row == 3


def test_conflicting_sizes(tmp_path):
    path = write(tmp_path, f"{HEADER},height,width\na,1,0.5,1,2,3,4,100,200\na,1,0.5,1,2,3,4,100,201\n")
    with pytest.raises(InputError, match="different height/width"):
        read_table(path)


def test_parquet_errors_name_rows(tmp_path):
    frame = pd.DataFrame(
        {
            "image_id": ["a", "b"],
            "class_id": [1, 1],
            "score": [0.5, 0.5],
            "x_min": [1.0, 9.0],
            "y_min": [2.0] * 2,
            "x_max": [3.0] * 2,
            "y_max": [4.0] * 2,
        }
    )
    frame.to_parquet(tmp_path / "p.parquet")
    with pytest.raises(InputError, match="row 2: x_max < x_min"):
        read_table(tmp_path / "p.parquet")


def test_detections_round_trip():
    dets = [Detections("a", [[1, 2, 3, 4]], [0.5], [2]), Detections("b")]
    t = BoxTable.from_detections(dets)
    assert list(t.images.index) == ["a", "b"] and len(t) == 1
    back = t.to_detections()
    assert [d.image_id for d in back] == ["a", "b"]
    np.testing.assert_array_equal(back[0].boxes, [[1, 2, 3, 4]])
    assert len(back[1]) == 0
    both = BoxTable.concat([t, BoxTable.empty(["c"])])
    assert list(both.images.index) == ["a", "b", "c"]
    assert list(both.subset(["c", "a"]).images.index) == ["c", "a"]
    assert [i for i, _ in both.per_image()] == ["a", "b", "c"]


def test_large_file_round_trip(tmp_path):
    """Many images and boxes survive a write/read round trip (speed is measured in benchmarks/ensemble.py)."""
    n = 200_000
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3000, n)
    frame = pd.DataFrame(
        {
            "image_id": np.repeat([f"{i:016x}" for i in range(2000)], 100),
            "class_id": rng.integers(0, 15, n),
            "score": rng.random(n),
            "x_min": x,
            "y_min": x,
            "x_max": x + 5,
            "y_max": x + 5,
        }
    )
    path = tmp_path / "big.csv"
    write_predictions(BoxTable(frame), path)
    t = read_table(path)
    assert len(t) == n and len(t.images) == 2000
    back = t.boxes.sort_values(["image_id", "x_min"], kind="stable").reset_index(drop=True)
    want = frame.sort_values(["image_id", "x_min"], kind="stable").reset_index(drop=True)
    np.testing.assert_array_equal(
        back[["x_min", "y_min", "x_max", "y_max", "score"]].to_numpy(),
        want[["x_min", "y_min", "x_max", "y_max", "score"]].to_numpy(),
    )
    np.testing.assert_array_equal(back["class_id"].to_numpy(), want["class_id"].to_numpy())


def test_table_without_any_box_writes_plain_empty_rows(tmp_path):
    """Regression: a model that finds nothing must still give a readable file listing every image."""
    path = tmp_path / "nothing.csv"
    write_predictions(BoxTable.empty(["a", "b"]), path)
    data = path.read_bytes()
    assert b"\x00" not in data
    assert data.decode().splitlines()[1:] == ["a,,,,,,", "b,,,,,,"]
    back = read_table(path)
    assert len(back) == 0 and list(back.images.index) == ["a", "b"]
