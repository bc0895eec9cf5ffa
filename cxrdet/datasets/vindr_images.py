"""Data sets, VinDr normal/abnormal classifier: a ``cxrdet convert`` folder's images with an image-level label.

``cxrdet convert`` writes ``images/<id>.png``, ``folds.csv`` (``image_id,fold[,group]``: every labelled
image), ``labels_fused.csv`` (the fused finding boxes) and ``classes.json`` (with the "no finding" class).
An image is ``normal`` (label 0) when it has no finding box, else ``abnormal`` (label 1); the folds are the
convert folder's own, so the classifier's folds are the detectors' folds, and ``split='all'`` trains and
validates on every labelled image, as the detectors' ``all`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cxrdet.datasets.task_dataset import GROUP_KEY, STRATUM_KEY, TaskDataset
from cxrdet.errors import InputError
from cxrdet.io.metainfo import read_convert_meta
from cxrdet.io.tables import columns_error, read_csv_table, record_lines, short
from cxrdet.registry import DATASETS

CLASSES = ("normal", "abnormal")
FOLDS_FILE = "folds.csv"
LABELS_FILE = "labels_fused.csv"
IMAGES_DIR = "images"


def read_folds(data_root: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Image ids, fold numbers and file lines of a convert folder's ``folds.csv``.

    Raises:
        InputError: no such file (a convert run without ``--folds``), missing columns, or a bad fold number.
    """
    path = Path(data_root) / FOLDS_FILE
    if not path.is_file():
        raise InputError(path, "no such file: run `cxrdet convert` with --folds K to make the folds")
    frame = read_csv_table(path, "folds CSV", dtype=str, keep_default_na=False)
    missing = [c for c in ("image_id", "fold") if c not in frame.columns]
    if missing:
        raise columns_error(path, list(frame.columns), missing, "image_id,fold", ("image_id", "fold"))
    folds = np.zeros(len(frame), np.int64)
    lines = record_lines(path, len(frame))
    for i, (line, text) in enumerate(zip(lines, frame["fold"])):
        if not text.strip().isdigit():
            raise InputError(path, f"fold {short(text)} is not a fold number", row=int(line))
        folds[i] = int(text)
    return [s.strip() for s in frame["image_id"]], folds, lines


def abnormal_ids(data_root: str | Path) -> set[str]:
    """Ids of the images with at least one finding box in ``labels_fused.csv`` (none when it is absent).

    Raises:
        InputError: the file lacks ``image_id``/``class_id``.
    """
    path = Path(data_root) / LABELS_FILE
    if not path.is_file():
        raise InputError(path, "no such file: the folder is not a `cxrdet convert` output with labels")
    frame = read_csv_table(path, "fused labels CSV", dtype=str, keep_default_na=False)
    missing = [c for c in ("image_id", "class_id") if c not in frame.columns]
    if missing:
        raise columns_error(path, list(frame.columns), missing, "image_id,class_id,...", ("image_id", "class_id"))
    meta = read_convert_meta(data_root)
    no_finding = None if meta.no_finding is None else str(meta.no_finding)
    return {i.strip() for i, c in zip(frame["image_id"], frame["class_id"]) if c.strip() != no_finding}


@DATASETS.register_module()
class VinDrImageDataset(TaskDataset):
    """Every labelled image of a convert folder with ``gt_label`` 0 (normal) or 1 (abnormal).

    Args:
        data_root: the ``cxrdet convert`` output folder.
        **kwargs: :class:`~cxrdet.datasets.task_dataset.TaskDataset`'s options; ``seed``, ``val_fraction``
            and ``num_folds`` are not used (the folds are ``folds.csv``'s).

    Raises:
        InputError: no ``folds.csv`` / ``labels_fused.csv``, a bad row, or a listed image without its PNG.
        ConfigError: see :class:`~cxrdet.datasets.task_dataset.TaskDataset`.
    """

    METAINFO: ClassVar[dict] = {"classes": CLASSES}

    def __init__(self, data_root: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_root=data_root, **kwargs)

    @classmethod
    def fixed_num_folds(cls, data_root: str) -> int | None:
        _, folds, _ = read_folds(data_root)
        return int(folds.max()) + 1 if len(folds) else None

    def read_items(self) -> list[dict]:
        root = Path(self.data_root)
        ids, folds, lines = read_folds(root)
        abnormal = abnormal_ids(root)
        items = []
        for image_id, fold, line in zip(ids, folds, lines):
            path = root / IMAGES_DIR / f"{image_id}.png"
            if not path.is_file():
                raise InputError(
                    root / FOLDS_FILE, f"image {short(image_id)} has no {IMAGES_DIR}/{image_id}.png", row=int(line)
                )
            label = int(image_id in abnormal)
            items.append(
                {"img_path": str(path), "img_id": image_id, "gt_label": label, STRATUM_KEY: int(fold), GROUP_KEY: None}
            )
        return items

    def subset_mask(self, items: list[dict]) -> np.ndarray:
        """``split='all'``: every image in both subsets; ``'foldK'``: fold K is validation."""
        folds = np.array([item[STRATUM_KEY] for item in items], dtype=np.int64)
        if self.val_fold is None:
            return np.ones(len(items), dtype=bool)
        return folds == self.val_fold if self.subset == "val" else folds != self.val_fold
