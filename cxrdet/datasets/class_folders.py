"""Data sets, classification from class folders: ``data_root/<class>/<image>`` (fracture CNNs, any classes).

Two layouts: ``data_root/<class>/*.png|jpg|jpeg|dcm`` (split here: seeded 8:2 per class, or K folds), or
``data_root/train/<class>/...`` + ``data_root/val/<class>/...`` (``split='all'`` keeps those two folders;
``'foldK'`` folds their union). Class names are the sorted folder names. An optional ``patients.csv``
(``image_id,patient_id``; the image id is the file stem or the path below the class folder's parent) keeps
each patient's images in one subset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cxrdet.datasets.task_dataset import GROUP_KEY, STRATUM_KEY, TaskDataset
from cxrdet.errors import InputError
from cxrdet.io.tables import columns_error, read_csv_table, record_lines
from cxrdet.registry import DATASETS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")
PATIENTS_FILE = "patients.csv"
PRESPLIT = ("train", "val")


def _is_presplit(root: Path) -> bool:
    return all((root / name).is_dir() for name in PRESPLIT)


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _images(folder: Path) -> list[Path]:
    """Image files below `folder` (any depth; hidden files and folders left out), sorted."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(s.startswith(".") for s in p.relative_to(folder).parts)
    )


def folder_classes(data_root: str) -> tuple[str, ...]:
    """The sorted class names of a class-folder root (either layout).

    Raises:
        InputError: the root is not a folder or has no class folder.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(root, "no such folder (expected <class>/ image folders)")
    tops = [root / name for name in PRESPLIT] if _is_presplit(root) else [root]
    names = sorted({d.name for top in tops for d in _class_dirs(top)})
    if not names:
        raise InputError(root, "no class folder found (expected data_root/<class>/*.png|jpg|jpeg|dcm)")
    return tuple(names)


def read_patients(path: Path) -> dict[str, str]:
    """``image_id -> patient_id`` from a ``patients.csv``.

    Raises:
        InputError: missing columns, an empty id, or an image listed twice (naming the line).
    """
    frame = read_csv_table(path, "patients CSV", dtype=str, keep_default_na=False)
    missing = [c for c in ("image_id", "patient_id") if c not in frame.columns]
    if missing:
        raise columns_error(path, list(frame.columns), missing, "image_id,patient_id", ("image_id", "patient_id"))
    lines = record_lines(path, len(frame))
    out: dict[str, str] = {}
    for line, image_id, patient in zip(lines, frame["image_id"], frame["patient_id"]):
        image_id, patient = image_id.strip(), patient.strip()
        if not image_id:
            raise InputError(path, "empty image_id", row=int(line))
        if image_id in out:
            raise InputError(path, f"image_id {image_id!r} listed twice", row=int(line))
        if patient:
            out[image_id] = patient
    return out


@DATASETS.register_module()
class ClassFolderDataset(TaskDataset):
    """Images in one folder per class; ``gt_label`` is the index of the folder name in the sorted class list.

    Args:
        data_root: the root (either layout of the module docstring).
        patients_file: the image -> patient table relative to ``data_root`` (used when it exists).
        **kwargs: :class:`~cxrdet.datasets.task_dataset.TaskDataset`'s options (``split``, ``subset``,
            ``seed``, ``val_fraction``, ``num_folds``, ``pipeline``, ...).

    Raises:
        InputError: no class folder, a class folder without images, or a bad ``patients.csv``.
        ConfigError: see :class:`~cxrdet.datasets.task_dataset.TaskDataset`.
    """

    def __init__(self, data_root: str | None = None, patients_file: str = PATIENTS_FILE, **kwargs: Any) -> None:
        self.patients_file = patients_file
        super().__init__(data_root=data_root, **kwargs)

    def read_metainfo(self, data_root: str) -> dict:
        return {"classes": folder_classes(data_root)}

    def _item(self, path: Path, label: int, parent: Path, patients: dict[str, str], subset: str | None) -> dict:
        rel = path.relative_to(parent).as_posix()
        return {
            "img_path": str(path),
            "img_id": path.stem,
            "gt_label": label,
            "presplit_subset": subset,
            STRATUM_KEY: label,
            GROUP_KEY: patients.get(rel, patients.get(path.name, patients.get(path.stem))),
        }

    def read_items(self) -> list[dict]:
        root = Path(self.data_root)
        classes = list(self.metainfo["classes"])
        patients_path = root / self.patients_file
        patients = read_patients(patients_path) if patients_path.is_file() else {}
        tops = [(root / name, name) for name in PRESPLIT] if _is_presplit(root) else [(root, None)]
        items = []
        for top, subset in tops:
            for label, name in enumerate(classes):
                folder = top / name
                if not folder.is_dir():
                    continue
                images = _images(folder)
                if not images and subset is None:
                    raise InputError(folder, "class folder without images (.png, .jpg, .jpeg, .dcm)")
                items += [self._item(p, label, top, patients, subset) for p in images]
        return items

    def subset_mask(self, items: list[dict]) -> np.ndarray:
        """A presplit root's own ``train/``/``val/`` for ``split='all'``; otherwise the seeded split."""
        if self.val_fold is None and items and items[0]["presplit_subset"] is not None:
            return np.array([item["presplit_subset"] == self.subset for item in items], dtype=bool)
        return super().subset_mask(items)

    def load_data_list(self) -> list[dict]:
        return [{k: v for k, v in item.items() if k != "presplit_subset"} for item in super().load_data_list()]
