"""A small RetinaNet (ResNet-18, 2 classes, 128 px) config and a two-image COCO set for the benchmarking tests.

The config inherits mmdet's own ``retinanet_r18_fpn_1x_coco.py`` through an ``mmdet::`` base, which points its
backbone at ``torchvision://resnet18``: cxrdet's benchmark must build it without downloading.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SIZE = 128

CONFIG = """
_base_ = ["mmdet::retinanet/retinanet_r18_fpn_1x_coco.py"]
data_root = "{root}/"
model = dict(bbox_head=dict(num_classes=2))
metainfo = dict(classes=("a", "b"))
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=({size}, {size}), keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file="coco.json",
        data_prefix=dict(img="images/"),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + "coco.json")
test_evaluator = val_evaluator
"""


def write_tiny_set(root: Path, size: int = SIZE) -> Path:
    """Two ``size`` x ``size`` grey-ish PNGs with one box each, a COCO json and the config; returns the config."""
    import cv2

    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i in range(2):
        cv2.imwrite(str(root / "images" / f"{i}.png"), rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
        images.append({"id": i, "file_name": f"{i}.png", "width": size, "height": size})
        annotations.append(
            {"id": i, "image_id": i, "category_id": 1, "bbox": [10, 10, 40, 30], "area": 1200, "iscrowd": 0}
        )
    categories = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    (root / "coco.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    config = root / "retinanet_r18_tiny.py"
    config.write_text(CONFIG.format(root=root.as_posix(), size=size))
    return config
