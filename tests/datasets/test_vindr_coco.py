"""VinDrCocoDataset on convert's output: classes from classes.json, negatives kept, DICOM sizes carried, 16-bit range
reaching the model input through the configs' own pipelines and data preprocessors (1 and 3 channels)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

CONFIGS = Path(__file__).parents[2] / "configs" / "mmdet"
VINDR_FINDINGS = (
    "Aortic enlargement",
    "Atelectasis",
    "Calcification",
    "Cardiomegaly",
    "Consolidation",
    "ILD",
    "Infiltration",
    "Lung Opacity",
    "Nodule/Mass",
    "Other lesion",
    "Pleural effusion",
    "Pleural thickening",
    "Pneumothorax",
    "Pulmonary fibrosis",
)


def infos(dataset) -> list[dict]:
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def build(**kwargs):
    from mmengine.registry import DefaultScope

    from cxrdet.registry import DATASETS

    with DefaultScope.overwrite_default_scope("mmdet"):
        return DATASETS.build(dict(type="cxrdet.VinDrCocoDataset", data_prefix=dict(img="images/"), **kwargs))


def test_classes_negatives_and_original_sizes_from_the_convert_folder(converted_example):
    root = str(converted_example) + "/"
    dataset = build(data_root=root, ann_file="coco/all.json", pipeline=[])
    assert dataset.metainfo["classes"] == VINDR_FINDINGS
    assert len(dataset.metainfo["palette"]) == 14 and len(set(dataset.metainfo["palette"])) == 14
    assert dataset.metainfo["cxrdet_meta"]["no_finding"] == 14

    coco = json.loads((converted_example / "coco" / "all.json").read_text())
    assert len(dataset) == len(coco["images"])  # every image, normal ones included
    with_boxes = {a["image_id"] for a in coco["annotations"]}
    n_normal = sum(im["id"] not in with_boxes for im in coco["images"])
    assert n_normal > 0
    assert sum(not info["instances"] for info in infos(dataset)) == n_normal

    meta = pd.read_csv(converted_example / "meta.csv").set_index("image_id")
    for info in infos(dataset):
        row = meta.loc[info["image_id"]]
        assert Path(info["img_path"]).stem == info["image_id"]
        assert info["original_shape"] == (row.original_height, row.original_width)
        assert (info["height"], info["width"]) == (row.height, row.width)
    assert len({info["original_shape"] for info in infos(dataset)}) > 1  # the example mixes sizes

    # one train fold keeps its negatives too (mmdet's own default would drop them)
    fold = build(data_root=root, ann_file="coco/fold0_train.json", pipeline=[])
    train = json.loads((converted_example / "coco" / "fold0_train.json").read_text())
    assert len(fold) == len(train["images"])


def _tiny_set(root: Path, classes: dict) -> None:
    (root / "images").mkdir(parents=True)
    (root / "coco").mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.full((40, 60), 1000, np.uint16))
    (root / "classes.json").write_text(json.dumps(classes))
    images = [
        {"id": 1, "file_name": "a.png", "height": 40, "width": 60, "image_id": "a", "original_height": 400,
         "original_width": 600},
        {"id": 2, "file_name": "b.png", "height": 40, "width": 60, "image_id": "b", "original_height": 400,
         "original_width": 600},
    ]  # fmt: skip
    names = [c for k, c in enumerate(classes["classes"]) if k != classes["no_finding"]]
    ids = [k for k in range(len(classes["classes"])) if k != classes["no_finding"]]
    annotations = [  # category_id = class_id + 1 (convert's convention); the last class on image a
        {"id": 1, "image_id": 1, "category_id": ids[-1] + 1, "bbox": [5, 5, 10, 20], "area": 200, "iscrowd": 0}
    ]
    categories = [{"id": k + 1, "name": n} for k, n in zip(ids, names)]
    (root / "coco" / "all.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )


def test_a_two_class_set_and_a_no_finding_class_in_the_middle(tmp_path):
    from cxrdet.evaluation.metric import VinDrMetric

    _tiny_set(tmp_path / "two", {"classes": ["cat", "dog"], "no_finding": None})
    two = build(data_root=str(tmp_path / "two"), ann_file="coco/all.json", pipeline=[])
    assert two.metainfo["classes"] == ("cat", "dog")
    assert len(two) == 2  # b has no box and stays
    assert infos(two)[0]["instances"][0]["bbox_label"] == 1  # dog
    assert infos(two)[0]["instances"][0]["bbox"] == [5, 5, 15, 25]
    assert infos(two)[0]["original_shape"] == (400, 600)

    _tiny_set(tmp_path / "mid", {"classes": ["cat", "No finding", "dog"], "no_finding": 1})
    mid = build(data_root=str(tmp_path / "mid"), ann_file="coco/all.json", pipeline=[])
    assert mid.metainfo["classes"] == ("cat", "dog")
    assert infos(mid)[0]["instances"][0]["bbox_label"] == 1  # detector label 1 = dog = class id 2
    assert tuple(mid.finding_class_ids()) == (0, 2)
    metric = VinDrMetric(classwise=True)
    metric.dataset_meta = mid.metainfo  # what the Runner does: the metric takes the data set's class list
    assert metric.meta.classes == ("cat", "No finding", "dog")
    sample = {
        "img_path": "images/a.png",
        "ori_shape": (40, 60),
        "original_shape": (400, 600),
        "pred_instances": {"bboxes": np.array([[5.0, 5, 15, 25]]), "scores": np.array([0.9]), "labels": np.array([1])},
        "gt_instances": {"bboxes": np.array([[5.0, 5, 15, 25]]), "labels": np.array([1])},
    }
    metric.process({}, [sample])
    assert metric.evaluate(1) == {"vindr/mAP": pytest.approx(1.0), "vindr/AP_02": pytest.approx(1.0)}


def test_a_broken_or_missing_class_list(tmp_path):
    from cxrdet.errors import InputError

    _tiny_set(tmp_path, {"classes": ["cat"], "no_finding": None})
    (tmp_path / "classes.json").write_text("{not json")
    with pytest.raises(InputError, match=r"classes\.json.*not a JSON class list"):
        build(data_root=str(tmp_path), ann_file="coco/all.json", pipeline=[])
    with pytest.raises(InputError, match=r"mine\.json"):
        build(data_root=str(tmp_path), ann_file="coco/all.json", pipeline=[], classes_file="mine.json")
    (tmp_path / "classes.json").unlink()  # a folder from before classes.json: VinDr
    assert (
        build(data_root=str(tmp_path), ann_file="coco/all.json", pipeline=[], lazy_init=True).metainfo["classes"]
        == VINDR_FINDINGS
    )


def _model_input(config: str, converted_example: Path, data_preprocessor: str | None = None, native: bool = False):
    """One val image through the config's own test pipeline and data preprocessor -> (png, packed, normalised)."""
    import torch
    from mmdet.registry import DATASETS, MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    cfg = Config.fromfile(str(CONFIGS / config))
    register_all_modules(init_default_scope=False)
    dataset_cfg = dict(cfg.val_dataloader.dataset, data_root=str(converted_example) + "/")
    if native:  # Resize to the PNG's own size: the values must arrive unchanged
        dataset_cfg["pipeline"] = [
            dict(step, scale=(256, 256)) if step["type"] == "Resize" else step for step in dataset_cfg["pipeline"]
        ]
    preprocessor_cfg = cfg[data_preprocessor] if data_preprocessor else cfg.model.data_preprocessor
    with DefaultScope.overwrite_default_scope("mmdet"):
        dataset = DATASETS.build(dataset_cfg)
        preprocessor = MODELS.build(preprocessor_cfg)
    item = dataset[0]
    png = cv2.imread(dataset.get_data_info(0)["img_path"], cv2.IMREAD_UNCHANGED)
    batch = preprocessor({"inputs": [item["inputs"]], "data_samples": [item["data_samples"]]}, training=False)
    mean = torch.tensor(preprocessor_cfg["mean"]).view(-1, 1, 1)
    std = torch.tensor(preprocessor_cfg["std"]).view(-1, 1, 1)
    return png, item["inputs"], batch["inputs"][0], mean, std


@pytest.mark.parametrize(
    ("config", "preprocessor", "channels"),
    [
        ("faster-rcnn_r50_fpn_1024-e12_vindr.py", None, 3),  # 3 grey channels, ImageNet statistics x 257
        ("retinanet_r18_fpn_160-e12_example.py", "data_preprocessor_grey1", 1),  # 1 channel, 0..65535 -> [-2, 2]
    ],
)
def test_16_bit_range_reaches_the_model_input(converted_example, config, preprocessor, channels):
    png, packed, normalised, mean, std = _model_input(config, converted_example, preprocessor)
    assert png.dtype == np.uint16 and png.max() > 255
    assert packed.shape[0] == channels and normalised.shape[0] == channels
    restored = normalised[:, : packed.shape[1], : packed.shape[2]] * std + mean
    assert float(restored.max()) > 255  # an 8-bit read would stop at 255
    assert float(restored.max()) == pytest.approx(float(png.max()), rel=0.02)  # resized: interpolated values
    if channels == 1:
        assert float(normalised.min()) >= -2.0 - 1e-4 and float(normalised.max()) <= 2.0 + 1e-4

    png, packed, normalised, mean, std = _model_input(config, converted_example, preprocessor, native=True)
    restored = (normalised * std + mean).round().to(dtype=__import__("torch").int64).numpy()
    for c in range(channels):  # at the PNG's own size every 16-bit value arrives exactly
        assert np.array_equal(restored[c, : png.shape[0], : png.shape[1]], png.astype(np.int64))
