"""Runner engine, out-of-fold data: a split's validation images and ground truth, OOF files per fold and stacked.

The images of a split are those of its COCO file (convert's ``coco/foldK_val.json`` / ``all.json``), read
as PNGs with their original sizes (``meta.csv``); the ground truth is ``labels_fused.csv`` (ORIGINAL pixels)
of those images, as the YOLO path scores.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.sources import SourceImage
from cxrdet.structures import BoxTable, DatasetMeta

log = logging.getLogger(__name__)


def split_image_ids(data_root: Path, split: str) -> list[str]:
    """The validation image ids of ``split`` (``all``: every labelled image), from its COCO file."""
    from cxrdet.engines.runner.config import ann_files

    path = Path(data_root) / ann_files(split)["val_dataloader"]
    try:
        images = json.loads(path.read_text())["images"]
        return [str(i.get("image_id") or Path(i["file_name"]).stem) for i in images]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(path, f"not a readable COCO file of cxrdet convert ({type(err).__name__})") from None


def split_sources(data_root: Path, split: str) -> list[SourceImage]:
    """The PNGs of a split's validation images (sizes from ``meta.csv``), sorted by image id."""
    from cxrdet.io.sources import find_sources

    ids = set(split_image_ids(data_root, split))
    return [s for s in find_sources(Path(data_root)) if s.image_id in ids]


def split_ground_truth(data_root: Path, split: str) -> BoxTable:
    """Ground truth of a split's validation images in ORIGINAL pixels (every image listed with its size)."""
    ids = split_image_ids(data_root, split)
    meta = pd.read_csv(Path(data_root) / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    fused = pd.read_csv(Path(data_root) / "labels_fused.csv", dtype={"image_id": str})
    fused = fused[fused["image_id"].isin(set(ids))].assign(score=1.0)
    images = pd.DataFrame(
        {
            "height": meta.loc[ids, "original_height"].to_numpy(float),
            "width": meta.loc[ids, "original_width"].to_numpy(float),
        },
        index=pd.Index(ids, name="image_id"),
    )
    return BoxTable(fused, images, "labels_fused.csv")


def write_table(table: BoxTable, meta: DatasetMeta, out: Path) -> Path:
    """A prediction file and its ``OUT.classes.json``."""
    from cxrdet.io.metainfo import write_companion
    from cxrdet.io.predictions import write_predictions

    out.parent.mkdir(parents=True, exist_ok=True)
    write_predictions(table, out)
    write_companion(out, meta)
    return out


def combine_oof(work_dir: Path, folds: list[int], meta: DatasetMeta) -> Path | None:
    """``work_dir/oof.csv``: every fold's ``oof_foldK.csv`` stacked, once all folds have one."""
    from cxrdet.io.predictions import read_table

    files = [work_dir / f"oof_fold{k}.csv" for k in folds]
    if not files or not all(f.is_file() for f in files):
        return None
    out = work_dir / "oof.csv"
    write_table(BoxTable.concat([read_table(f, meta=meta) for f in files], source=str(out)), meta, out)
    log.info("out-of-fold predictions of all %d folds -> %s", len(files), out)
    return out
