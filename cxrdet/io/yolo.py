"""Files out, YOLO (Ultralytics) dataset: one label txt per image next to ``images/``, split lists and data.yaml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cxrdet.io.atomic import write_text
from cxrdet.structures import BOX_COLUMNS, VINDR, DatasetMeta


def _nc(meta: DatasetMeta) -> int:
    return max(meta.finding_classes) + 1 if meta.finding_classes else 0


def label_lines(boxes: pd.DataFrame, height: int, width: int, scale_x: float, scale_y: float) -> str:
    """YOLO label text (``class cx cy w h``, normalised to the PNG) for one image's original-pixel boxes."""
    if boxes.empty:
        return ""
    xyxy = boxes[list(BOX_COLUMNS)].to_numpy(np.float64) * [scale_x, scale_y, scale_x, scale_y]
    cx = (xyxy[:, 0] + xyxy[:, 2]) / 2 / width
    cy = (xyxy[:, 1] + xyxy[:, 3]) / 2 / height
    w = (xyxy[:, 2] - xyxy[:, 0]) / width
    h = (xyxy[:, 3] - xyxy[:, 1]) / height
    rows = np.clip(np.stack([cx, cy, w, h], axis=1), 0.0, 1.0)
    return "".join(f"{int(c)} {r[0]:.6f} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f}\n" for c, r in zip(boxes["class_id"], rows))


def write_labels(out_dir: Path, meta: pd.DataFrame, boxes: pd.DataFrame) -> None:
    """Write ``out_dir/labels/<image_id>.txt`` for every image (empty for negatives).

    Ultralytics finds a label by replacing ``/images/`` with ``/labels/`` in the image path.
    """
    groups = dict(tuple(boxes.groupby("image_id", sort=False)))
    empty = boxes.iloc[0:0]
    for row in meta.itertuples(index=False):
        text = label_lines(groups.get(row.image_id, empty), row.height, row.width, row.scale_x, row.scale_y)
        write_text(out_dir / "labels" / f"{row.image_id}.txt", text)


def write_split(
    split_dir: Path, out_dir: Path, train_files: list[str], val_files: list[str], meta: DatasetMeta = VINDR
) -> Path:
    """Write ``train.txt``/``val.txt`` (absolute PNG paths) and a ``data.yaml`` with absolute paths.

    YOLO class index = cxrdet class_id; ``nc`` covers every finding class (VinDr: 0..13, "No finding" is
    not a detector class).
    """
    split_dir = Path(split_dir).resolve()
    out_dir = Path(out_dir).resolve()
    lists = {}
    for name, files in (("train", train_files), ("val", val_files)):
        lists[name] = split_dir / f"{name}.txt"
        write_text(lists[name], "".join(f"{out_dir / f}\n" for f in files))
    data = {
        "path": str(out_dir),
        "train": str(lists["train"]),
        "val": str(lists["val"]),
        "nc": _nc(meta),
        "names": {c: meta.name(c) for c in range(_nc(meta))},
    }
    data_yaml = split_dir / "data.yaml"
    write_text(data_yaml, yaml.safe_dump(data, sort_keys=False))
    return data_yaml
