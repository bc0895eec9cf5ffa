"""One COCO category convention (category_id = class_id + 1) in the dataset json and the evaluation (pycocotools)."""

from __future__ import annotations

import pandas as pd

from cxrdet.evaluation.coco import to_coco
from cxrdet.io.coco import CATEGORY_OFFSET, build_coco, class_id_of, load_coco, write_coco
from cxrdet.structures import VINDR, BoxTable, DatasetMeta


def _meta() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": ["a", "b"],
            "file": ["images/a.png", "images/b.png"],
            "height": [100, 100],
            "width": [100, 100],
            "original_height": [200, 200],
            "original_width": [200, 200],
            "scale_x": [0.5, 0.5],
            "scale_y": [0.5, 0.5],
        }
    )


def _boxes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": ["a", "b"],
            "class_id": [0, 13],
            "x_min": [10.0, 20.0],
            "y_min": [10.0, 20.0],
            "x_max": [50.0, 60.0],
            "y_max": [50.0, 80.0],
            "n_readers": [3, 1],
        }
    )


def test_dataset_json_and_evaluation_share_category_ids(tmp_path):
    write_coco(tmp_path / "all.json", build_coco(_meta(), _boxes()))
    coco = load_coco(tmp_path / "all.json")
    assert CATEGORY_OFFSET == 1
    assert coco.getCatIds() == list(range(1, 15))  # the 14 findings, "No finding" is not a detector class
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(VINDR.classes[:14])
    anns = coco.loadAnns(coco.getAnnIds())
    assert [class_id_of(a["category_id"]) for a in anns] == [0, 13]
    assert anns[1]["bbox"] == [10.0, 10.0, 20.0, 30.0]  # xywh in PNG pixels (scale 0.5)

    gt = BoxTable(_boxes().assign(score=1.0))
    dataset, results = to_coco(gt, gt)
    names = {c["id"]: c["name"] for c in dataset["categories"]}
    for ann, res in zip(dataset["annotations"], results):
        assert ann["category_id"] == res["category_id"] == anns[dataset["annotations"].index(ann)]["category_id"]
        assert names[ann["category_id"]] == coco.loadCats(ann["category_id"])[0]["name"]


def test_a_two_class_dataset_names_its_categories(tmp_path):
    meta = DatasetMeta(("cat", "dog"))
    boxes = _boxes().assign(class_id=[0, 1])
    write_coco(tmp_path / "all.json", build_coco(_meta(), boxes, meta))
    coco = load_coco(tmp_path / "all.json")
    assert [(c["id"], c["name"]) for c in coco.loadCats(coco.getCatIds())] == [(1, "cat"), (2, "dog")]
