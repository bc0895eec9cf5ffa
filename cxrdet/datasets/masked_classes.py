"""Data sets, classification images with optional lesion masks (GAIN, ``configs/gain/``): the gastric layout.

Layout (what ``cxrdet make-example --task gastric`` writes, :mod:`cxrdet.example.gastric`)::

    data_root/labels.csv          image_id,label[,patient_id]   (label: a class name, e.g. normal / egc)
    data_root/images/<id>.png     the image (.png, .jpg, .jpeg; or the id itself names the file)
    data_root/masks/<stem>.png    optional label mask of the image (0 background, > 0 lesion)

Each item has ``img_path``, ``img_id``, ``gt_label`` (index in ``classes``) and ``seg_map_path`` (None when the
image has no mask file: ``LoadMaskFromFile`` then adds nothing and GAIN trains that image on its label alone).
The split is stratified by label (and grouped by ``patient_id`` when the column is there). Every bad row is an
InputError naming the CSV and the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxrdet.datasets.file_listing import files_by_stem
from cxrdet.datasets.task_dataset import GROUP_KEY, STRATUM_KEY, TaskDataset
from cxrdet.errors import ConfigError, InputError
from cxrdet.io.tables import columns_error, read_csv_table, record_lines, short
from cxrdet.registry import DATASETS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MASK_SUFFIXES = (".png",)
_COLUMNS = ("image_id", "label")


@DATASETS.register_module()
class MaskedClassDataset(TaskDataset):
    """Images with a class label each and, where a mask file exists, a lesion mask.

    Args:
        data_root: the data set's folder.
        ann_file: the labels CSV, relative to ``data_root``.
        img_dir: the image folder, relative to ``data_root``.
        mask_dir: the mask folder, relative to ``data_root`` (absent: no image has a mask).
        classes: the class names in index order (``gt_label`` is the index of the row's label).
        **kwargs: :class:`~cxrdet.datasets.task_dataset.TaskDataset`'s options (``split``, ``subset``,
            ``seed``, ``val_fraction``, ``num_folds``, ``pipeline``, ...).

    Raises:
        InputError: the CSV lacks a column, or a row has an empty or repeated id, a label not in ``classes`` or
            no image in ``img_dir`` (naming the line); the image folder is missing.
        ConfigError: fewer than two classes, a class named twice; see also
            :class:`~cxrdet.datasets.task_dataset.TaskDataset`.
    """

    def __init__(
        self,
        data_root: str | None = None,
        ann_file: str = "labels.csv",
        img_dir: str = "images",
        mask_dir: str = "masks",
        classes: Sequence[str] = ("normal", "egc"),
        **kwargs: Any,
    ) -> None:
        names = tuple(str(c) for c in classes)
        if len(names) < 2 or len(set(names)) != len(names):
            raise ConfigError(f"MaskedClassDataset: classes={list(names)} must be two or more distinct names")
        self.class_names = names
        self.img_dir = img_dir
        self.mask_dir = mask_dir
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    def read_metainfo(self, data_root: str) -> dict:
        return {"classes": self.class_names}

    def read_items(self) -> list[dict]:
        path = Path(self.ann_file)
        frame = read_csv_table(path, "labels CSV", dtype=str, keep_default_na=False)
        missing = [c for c in _COLUMNS if c not in frame.columns]
        if missing:
            raise columns_error(path, list(frame.columns), missing, "image_id,label[,patient_id]", _COLUMNS)
        root = Path(self.data_root)
        img_dir = root / self.img_dir
        if not img_dir.is_dir():
            raise InputError(img_dir, f"no such image folder (img_dir of {path.name})")
        images = files_by_stem(img_dir, IMAGE_SUFFIXES)
        masks = files_by_stem(root / self.mask_dir, MASK_SUFFIXES)
        index = {name: i for i, name in enumerate(self.class_names)}
        patients = frame["patient_id"] if "patient_id" in frame.columns else [""] * len(frame)
        seen: set[str] = set()
        items = []
        for line, image_id, label, patient in zip(
            record_lines(path, len(frame)), frame["image_id"], frame["label"], patients
        ):
            line, image_id, label = int(line), image_id.strip(), label.strip()
            if not image_id:
                raise InputError(path, "empty image_id", row=line)
            if image_id in seen:
                raise InputError(path, f"image_id {short(image_id)} listed twice", row=line)
            seen.add(image_id)
            if label not in index:
                raise InputError(
                    path, f"label {short(label)} of {short(image_id)} is not one of {list(self.class_names)}", row=line
                )
            direct = img_dir / image_id
            image = direct if direct.suffix.lower() in IMAGE_SUFFIXES and direct.is_file() else images.get(image_id)
            if image is None:
                raise InputError(path, f"no image {short(image_id)}.png|jpg|jpeg in {img_dir}", row=line)
            mask = masks.get(image.stem)
            items.append(
                {
                    "img_path": str(image),
                    "img_id": image_id,
                    "gt_label": index[label],
                    "seg_map_path": None if mask is None else str(mask),
                    STRATUM_KEY: index[label],
                    GROUP_KEY: patient.strip() or None,
                }
            )
        return items
