"""Files out, COCO json (and back in): the detection dataset in resized-PNG pixels, validated with pycocotools."""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.atomic import write_text
from cxrdet.structures import BOX_COLUMNS, VINDR, DatasetMeta

CATEGORY_OFFSET: int = 1
"""COCO ``category_id`` = cxrdet ``class_id`` + 1, everywhere (dataset json, result lists, evaluation).

COCO's own files number categories from 1 and many tools read 0 as background (torchvision's detectors);
pycocotools accepts any ids and mmdet's ``CocoDataset`` maps ids to labels through the category *names*
(``metainfo['classes']``), so 1-based ids with the data set's class names suit every consumer.
"""


def category_id(class_id):
    """COCO category id(s) of cxrdet class id(s) (an int or an integer array)."""
    return class_id + CATEGORY_OFFSET


def class_id_of(category):
    """Inverse of :func:`category_id`."""
    return category - CATEGORY_OFFSET


def categories(meta: DatasetMeta = VINDR, class_ids=None) -> list[dict]:
    """COCO ``categories``: ``{"id": class_id + 1, "name": class name}`` for ``class_ids`` (default: every class)."""
    ids = range(meta.num_classes) if class_ids is None else class_ids
    return [{"id": int(category_id(c)), "name": meta.name(int(c))} for c in ids]


def build_coco(meta: pd.DataFrame, boxes: pd.DataFrame, dataset: DatasetMeta = VINDR) -> dict:
    """A COCO dict for the images in ``meta`` and their ``boxes``.

    Args:
        meta: one row per image with image_id, file (relative PNG path), height, width (PNG),
            original_height, original_width, scale_x, scale_y.
        boxes: fused boxes (image_id, class_id, x_min..y_max in ORIGINAL pixels, n_readers); rows for
            images not in ``meta`` are ignored.
        dataset: the class list; categories are its finding classes (not the "no finding" class).

    Category ids are ``class_id + 1`` (:data:`CATEGORY_OFFSET`); image ``id`` is 1-based in ``meta`` order and the
    VinDr id is kept as ``image_id`` on each image entry, with the original size and the scales to map back.
    """
    ids = {image_id: i + 1 for i, image_id in enumerate(meta["image_id"])}
    by_id = meta.set_index("image_id")
    images = [
        {
            "id": ids[row.image_id],
            "file_name": os.path.basename(row.file),
            "height": int(row.height),
            "width": int(row.width),
            "image_id": row.image_id,
            "original_height": int(row.original_height),
            "original_width": int(row.original_width),
            "scale_x": float(row.scale_x),
            "scale_y": float(row.scale_y),
        }
        for row in meta.itertuples(index=False)
    ]
    subset = boxes.loc[boxes["image_id"].isin(ids.keys())]
    xyxy = subset[list(BOX_COLUMNS)].to_numpy(np.float64)
    sx = by_id.loc[subset["image_id"], "scale_x"].to_numpy(np.float64)
    sy = by_id.loc[subset["image_id"], "scale_y"].to_numpy(np.float64)
    x, y = xyxy[:, 0] * sx, xyxy[:, 1] * sy
    w, h = (xyxy[:, 2] - xyxy[:, 0]) * sx, (xyxy[:, 3] - xyxy[:, 1]) * sy
    readers = subset["n_readers"].to_numpy() if "n_readers" in subset else np.ones(len(subset), int)
    annotations = [
        {
            "id": k + 1,
            "image_id": ids[image_id],
            "category_id": int(category_id(class_id)),
            "bbox": [round(float(x[k]), 3), round(float(y[k]), 3), round(float(w[k]), 3), round(float(h[k]), 3)],
            "area": round(float(w[k] * h[k]), 3),
            "iscrowd": 0,
            "n_readers": int(readers[k]),
        }
        for k, (image_id, class_id) in enumerate(zip(subset["image_id"], subset["class_id"]))
    ]
    return {"images": images, "annotations": annotations, "categories": categories(dataset, dataset.finding_classes)}


def load_coco(path: str | os.PathLike):
    """Load a COCO json with pycocotools (quietly); raises InputError if pycocotools rejects it."""
    from pycocotools.coco import COCO

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(path))
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as err:
        raise InputError(path, f"not a valid COCO json: {err}") from None


def write_coco(path: str | os.PathLike, coco: dict) -> None:
    """Write a COCO dict atomically and check that pycocotools loads it."""
    write_text(path, json.dumps(coco))
    load_coco(path)
