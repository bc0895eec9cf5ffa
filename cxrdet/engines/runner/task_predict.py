"""Runner engine for custom models, prediction: images (PNG/JPEG/DICOM) or a dataset's subset -> rows per image.

Images go through the config's TEST pipeline (its loading transform first: ``LoadMedicalImage`` reads PNG,
JPEG and DICOM), in batches, into the model's ``test_step`` (its data preprocessor, then
``mode='predict'``). An image that cannot be read is reported in ``failures`` with its reason and listed
without values; the others are still predicted. The pipeline records each image's geometry
(:class:`~cxrdet.engines.runner.traced_pipeline.TracedPipeline`), so a segmentation model's mask comes back in
the file's own size (row key :data:`~cxrdet.engines.runner.seg_masks.MASK_COLUMN`, with ``fraction_<class>`` of
that mask); ``cxrdet predict`` writes it as a PNG.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

from cxrdet.engines.runner.config import leaf_datasets
from cxrdet.engines.runner.task_model import prediction_rows
from cxrdet.errors import ConfigError, CxrdetError

log = logging.getLogger(__name__)


def build_pipeline(cfg):
    """The test pipeline as one callable, built in the config's scope; it records each image's geometry in its data
    sample's ``file_geometry`` (when the geometry can be inverted)."""
    from cxrdet.engines.runner.traced_pipeline import TracedPipeline

    return TracedPipeline(cfg)


def _add_file_masks(rows: list[dict[str, Any]], samples: list, classes) -> None:
    """A segmentation sample's mask in its file's geometry (and its class fractions) into its row."""
    from cxrdet.engines.runner.seg_masks import MASK_COLUMN, mask_in_file
    from cxrdet.engines.runner.task_model import mask_fractions

    for row, sample in zip(rows, samples):
        scores = sample.get("pred_mask_score") if hasattr(sample, "get") else None
        geometry = sample.metainfo.get("file_geometry")
        if scores is None or geometry is None:
            continue
        mask = mask_in_file(scores, geometry)
        names = list(classes) if classes and len(classes) == len(scores) else [str(k) for k in range(len(scores))]
        row.update(mask_fractions(mask, names))
        row[MASK_COLUMN] = mask


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _run(model, packed: list[dict]) -> list:
    import torch
    from mmengine.dataset import pseudo_collate

    with torch.no_grad():
        return list(model.test_step(pseudo_collate(packed)))


def predict_files(
    model, pipeline, items: Sequence, classes, batch: int = 8, progress: bool = False
) -> tuple[list[dict[str, Any]], dict[str, str], float]:
    """Predicts image files (``items``: objects with ``image_id`` and ``path``).

    Returns:
        (rows in the order of ``items``, image_id -> reason for those not predicted, seconds).
    """
    from tqdm import tqdm

    start = time.perf_counter()
    rows: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    bar = tqdm(total=len(items), unit="img", disable=not progress, desc="predict")
    for chunk in _batches(list(items), max(1, int(batch))):
        packed = []
        for item in chunk:
            try:
                packed.append(pipeline({"img_path": str(item.path), "img_id": str(item.image_id)}))
            except (CxrdetError, OSError, ValueError) as err:
                failures[str(item.image_id)] = str(err)
        if packed:
            samples = _run(model, packed)
            chunk_rows = prediction_rows(samples, classes)
            _add_file_masks(chunk_rows, samples, classes)
            for row in chunk_rows:
                rows[row["image_id"]] = row
        bar.update(len(chunk))
    bar.close()
    for image_id, reason in failures.items():
        log.warning("%s: not predicted: %s", image_id, reason)
    ordered = [rows.get(str(i.image_id), {"image_id": str(i.image_id)}) for i in items]
    return ordered, failures, time.perf_counter() - start


def predict_dataset(model, dataset, batch: int = 8) -> list[dict[str, Any]]:
    """Predicts every item of a built dataset (its own pipeline, ground truth kept in the rows)."""
    classes = (getattr(dataset, "metainfo", None) or {}).get("classes")
    rows: list[dict[str, Any]] = []
    indices = list(range(len(dataset)))
    for chunk in _batches(indices, max(1, int(batch))):
        rows += prediction_rows(_run(model, [dataset[i] for i in chunk]), classes)
    return rows


def rows_frame(rows: list[dict[str, Any]]):
    """Rows -> a DataFrame with ``image_id`` first (missing values NaN)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if "image_id" not in frame:
        frame["image_id"] = []
    columns = ["image_id"] + [c for c in frame.columns if c != "image_id"]
    return frame[columns].fillna(value=math.nan)


def dataset_of(cfg, loader: str = "val_dataloader"):
    """The (first) dataset of a loader, built in the config's scope."""
    from mmengine.registry import DefaultScope

    import cxrdet.datasets  # noqa: F401
    from cxrdet.registry import DATASETS

    for dataset in leaf_datasets((cfg.get(loader) or {}).get("dataset")):
        with DefaultScope.overwrite_default_scope(str(cfg.get("default_scope") or "cxrdet")):
            return DATASETS.build(copy.deepcopy(dataset))
    raise ConfigError(f"the config has no {loader}.dataset")
