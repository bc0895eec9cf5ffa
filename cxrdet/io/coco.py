"""COCO json out (and back in): the detection dataset in resized-PNG pixels, validated with pycocotools."""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.atomic import write_text
from cxrdet.vindr import BOX_COLUMNS, CLASS_NAMES, NUM_FINDING_CLASSES


def build_coco(meta: pd.DataFrame, boxes: pd.DataFrame) -> dict:
    """A COCO dict for the images in ``meta`` and their ``boxes``.

    Args:
        meta: one row per image with image_id, file (relative PNG path), height, width (PNG),
            original_height, original_width, scale_x, scale_y.
        boxes: fused boxes (image_id, class_id, x_min..y_max in ORIGINAL pixels, n_readers); rows for
            images not in ``meta`` are ignored.

    Category ids are the VinDr class ids 0..13; image ``id`` is 1-based in ``meta`` order and the VinDr id
    is kept as ``image_id`` on each image entry, with the original size and the scales to map back.
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
            "category_id": int(class_id),
            "bbox": [round(float(x[k]), 3), round(float(y[k]), 3), round(float(w[k]), 3), round(float(h[k]), 3)],
            "area": round(float(w[k] * h[k]), 3),
            "iscrowd": 0,
            "n_readers": int(readers[k]),
        }
        for k, (image_id, class_id) in enumerate(zip(subset["image_id"], subset["class_id"]))
    ]
    categories = [{"id": c, "name": CLASS_NAMES[c]} for c in range(NUM_FINDING_CLASSES)]
    return {"images": images, "annotations": annotations, "categories": categories}


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
