"""Data sets, classification from a CSV of image paths and labels, CheXpert-style (feature GAN; issue 11).

One row per image: ``Path`` (relative to ``data_root``, as CheXpert's ``train.csv`` lists
``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg`` relative to the folder holding
``CheXpert-v1.0-small/``) and its class, either as a name in one column (``label_column='label'``) or, CheXpert's
own layout, as one column per class holding 1 for the image's finding (``label_column=None``: the row's class is
the one of ``classes`` whose cell is 1; rows with none or several are left out, logged; -1 "uncertain" is not 1).
Patients are kept in one subset: a ``patient_column``, else the ``patientNNNNN`` folder of CheXpert paths. An
image's id is its file stem when the stems are unique, else its path without the suffix (CheXpert's views).

``held_out=True`` reads a separate test file whole (e.g. the example's balanced ``test.csv``): every row, whatever
``split`` and ``subset`` the engine sets; otherwise the rows are split as every task data set (seeded 8:2 split
or K folds, stratified per class, grouped by patient). Class names: ``classes``, else the sorted label names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cxrdet.datasets.task_dataset import GROUP_KEY, STRATUM_KEY, TaskDataset
from cxrdet.errors import ConfigError, InputError
from cxrdet.io.tables import columns_error, read_csv_table, record_lines, short
from cxrdet.registry import DATASETS

log = logging.getLogger(__name__)

_PATIENT = re.compile(r"(?:^|/)(patient\d+)(?:/|$)")
_POSITIVE = {"1", "1.0", "true", "yes"}


def _csv_path(data_root: str, ann_file: str) -> Path:
    path = Path(ann_file)
    return path if path.is_absolute() else Path(data_root) / path


def _read(path: Path):
    return read_csv_table(path, "image CSV", dtype=str, keep_default_na=False)


def read_csv_classes(
    data_root: str, ann_file: str, label_column: str | None, classes: Sequence[str] | None
) -> tuple[str, ...]:
    """The class list: ``classes`` as given, else the sorted names in ``label_column``.

    Raises:
        ConfigError: no ``classes`` with ``label_column=None``, or a class given twice.
        InputError: the CSV has no ``label_column`` or no labelled row.
    """
    if classes is not None:
        names = tuple(str(c) for c in classes)
        if len(set(names)) != len(names) or len(names) < 2:
            raise ConfigError(f"ImageCsvDataset: classes={list(names)}: two or more distinct names")
        return names
    if label_column is None:
        raise ConfigError("ImageCsvDataset: label_column=None (one column per class) needs classes=[...]")
    path = _csv_path(data_root, ann_file)
    frame = _read(path)
    if label_column not in frame.columns:
        raise columns_error(path, list(frame.columns), [label_column], f"a {label_column} column", [label_column])
    names = sorted({v.strip() for v in frame[label_column] if v.strip()})
    if not names:
        raise InputError(path, f"no row has a {label_column}")
    return tuple(names)


@DATASETS.register_module()
class ImageCsvDataset(TaskDataset):
    """Images listed in a CSV with their class; ``gt_label`` is the class's index in ``classes``.

    Args:
        data_root: the folder the paths are relative to.
        ann_file: the CSV, relative to ``data_root`` (or absolute).
        path_column: the image path column (CheXpert: ``Path``).
        label_column: the class-name column; None: one 0/1 column per class of ``classes`` (CheXpert).
        classes: the class names in index order (None: the sorted names in ``label_column``).
        patient_column: a patient id column (None: ``patientNNNNN`` in the path, when there).
        held_out: the CSV is a held-out set: all its rows, ``split``/``subset`` ignored.
        **kwargs: :class:`~cxrdet.datasets.task_dataset.TaskDataset`'s options (``split``, ``subset``,
            ``seed``, ``val_fraction``, ``num_folds``, ``pipeline``, ...).

    Raises:
        InputError: a missing column, an empty or repeated path, an unknown class name, a missing image file
            (naming the CSV and the line).
        ConfigError: see :class:`~cxrdet.datasets.task_dataset.TaskDataset`.
    """

    def __init__(
        self,
        data_root: str | None = None,
        ann_file: str = "train.csv",
        path_column: str = "Path",
        label_column: str | None = "label",
        classes: Sequence[str] | None = None,
        patient_column: str | None = None,
        held_out: bool = False,
        **kwargs: Any,
    ) -> None:
        self.path_column = str(path_column)
        self.label_column = None if label_column is None else str(label_column)
        self.given_classes = None if classes is None else [str(c) for c in classes]
        self.patient_column = patient_column
        self.held_out = bool(held_out)
        self._csv_name = str(ann_file)
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    def read_metainfo(self, data_root: str) -> dict:
        return {"classes": read_csv_classes(data_root, self._csv_name, self.label_column, self.given_classes)}

    def _label(self, path: Path, line: int, row: dict, classes: list[str]) -> int | None:
        if self.label_column is not None:
            name = row[self.label_column].strip()
            if name not in classes:
                raise InputError(path, f"{self.label_column} {short(name)} is not one of {classes}", row=line)
            return classes.index(name)
        hits = [i for i, c in enumerate(classes) if row[c].strip().lower() in _POSITIVE]
        return hits[0] if len(hits) == 1 else None

    def read_items(self) -> list[dict]:
        path = Path(self.ann_file)
        frame = _read(path)
        classes = list(self.metainfo["classes"])
        needed = [self.path_column] + ([self.label_column] if self.label_column else classes)
        if self.patient_column:
            needed.append(str(self.patient_column))
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise columns_error(path, list(frame.columns), missing, ",".join(needed), needed)
        root = Path(self.data_root)
        seen: set[str] = set()
        items, skipped = [], 0
        for line, row in zip(record_lines(path, len(frame)), frame.to_dict("records")):
            rel = row[self.path_column].strip()
            if not rel:
                raise InputError(path, f"empty {self.path_column}", row=int(line))
            if rel in seen:
                raise InputError(path, f"{self.path_column} {short(rel)} listed twice", row=int(line))
            seen.add(rel)
            label = self._label(path, int(line), row, classes)
            if label is None:
                skipped += 1
                continue
            image = root / rel
            if not image.is_file():
                raise InputError(path, f"image {short(rel)} not found under {root}", row=int(line))
            patient = row[self.patient_column].strip() if self.patient_column else None
            if not self.patient_column:
                match = _PATIENT.search(rel.replace("\\", "/"))
                patient = match.group(1) if match else None
            items.append(
                {
                    "img_path": str(image),
                    "img_id": Path(rel).with_suffix("").as_posix(),
                    "gt_label": label,
                    STRATUM_KEY: label,
                    GROUP_KEY: patient or None,
                }
            )
        if skipped:
            log.info("%s: %d rows without exactly one positive class of %s left out", path, skipped, classes)
        if not items:
            raise InputError(path, "no labelled image")
        stems = [Path(item["img_id"]).name for item in items]
        if len(set(stems)) == len(stems):  # file names are unique: the id is the file's stem
            for item, stem in zip(items, stems):
                item["img_id"] = stem
        return items

    def subset_mask(self, items: list[dict]) -> np.ndarray:
        """A held-out file: every row; otherwise the seeded split of the task data sets."""
        if self.held_out:
            return np.ones(len(items), dtype=bool)
        return super().subset_mask(items)
