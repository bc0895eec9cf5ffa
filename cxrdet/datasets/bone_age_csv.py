"""Data sets, bone age (TJ-Net): the RSNA layout, a CSV ``id,boneage,male`` and a folder of hand radiographs.

Each CSV row names an image ``<img_dir>/<id>.png|jpg|jpeg|dcm``, its bone age in months and the sex
(``male``: True/False/1/0, or empty for unknown; an unknown sex is read from a DICOM image's PatientSex
when the image is a DICOM). An optional ``patient_id`` column keeps a patient's images in one subset.
The split is stratified per 2-year age band and sex. Every bad row is an InputError naming the CSV and the
line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cxrdet.datasets.file_listing import files_by_stem
from cxrdet.datasets.task_dataset import GROUP_KEY, STRATUM_KEY, TaskDataset
from cxrdet.errors import DicomError, InputError
from cxrdet.io.tables import columns_error, read_csv_table, record_lines, short
from cxrdet.registry import DATASETS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")
DICOM_SUFFIXES = (".dcm", ".dicom")
STRATUM_MONTHS = 24
"""Width of the age bands the split is stratified on (within each band, also by sex)."""
_TRUE = {"true", "1", "1.0", "m", "male", "yes"}
_FALSE = {"false", "0", "0.0", "f", "female", "no"}
_COLUMNS = ("id", "boneage", "male")


def parse_male(value: str) -> float | None:
    """1.0 (male), 0.0 (female), nan (empty: unknown), or None when the text is not a sex."""
    text = value.strip().lower()
    if not text or text in ("nan", "na", "none", "unknown"):
        return math.nan
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    return None


def dicom_male(path: Path) -> float:
    """1.0 / 0.0 from a DICOM file's PatientSex (header only), nan when absent, other or unreadable."""
    from cxrdet.io.dicom import load_dataset, read_meta

    try:
        sex = read_meta(load_dataset(path), path).sex
    except DicomError:
        return math.nan
    return {"M": 1.0, "F": 0.0}.get(sex or "", math.nan)


def _find_image(folder: Path, image_id: str, listing: dict[str, Path]) -> Path | None:
    direct = folder / image_id
    if direct.suffix.lower() in IMAGE_SUFFIXES and direct.is_file():
        return direct
    return listing.get(image_id)


@DATASETS.register_module()
class BoneAgeDataset(TaskDataset):
    """RSNA bone-age images with ``gt_age`` (months, float) and ``gt_male`` (1.0 / 0.0 / nan unknown).

    Args:
        data_root: the data set's folder.
        ann_file: the CSV, relative to ``data_root`` (RSNA: ``boneage-training-dataset.csv``).
        img_dir: the image folder, relative to ``data_root`` (RSNA: ``boneage-training-dataset``).
        sex_from_dicom: read PatientSex of a DICOM image whose ``male`` cell is empty.
        **kwargs: :class:`~cxrdet.datasets.task_dataset.TaskDataset`'s options (``split``, ``subset``,
            ``seed``, ``val_fraction``, ``num_folds``, ``pipeline``, ...).

    Raises:
        InputError: the CSV lacks a column, or a row has an empty/duplicate id, a non-numeric, non-finite or
            negative age, a sex that is not True/False/1/0/empty, or no image in ``img_dir`` (naming the line).
        ConfigError: see :class:`~cxrdet.datasets.task_dataset.TaskDataset`.
    """

    def __init__(
        self,
        data_root: str | None = None,
        ann_file: str = "boneage-training-dataset.csv",
        img_dir: str = "boneage-training-dataset",
        sex_from_dicom: bool = True,
        **kwargs: Any,
    ) -> None:
        self.img_dir = img_dir
        self.sex_from_dicom = bool(sex_from_dicom)
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    def read_items(self) -> list[dict]:
        path = Path(self.ann_file)
        frame = read_csv_table(path, "bone age CSV", dtype=str, keep_default_na=False)
        missing = [c for c in _COLUMNS if c not in frame.columns]
        if missing:
            raise columns_error(path, list(frame.columns), missing, "id,boneage,male", _COLUMNS)
        folder = Path(self.data_root) / self.img_dir
        if not folder.is_dir():
            raise InputError(folder, f"no such image folder (img_dir of {path.name})")
        listing = files_by_stem(folder, IMAGE_SUFFIXES)
        lines = record_lines(path, len(frame))
        patients = frame["patient_id"] if "patient_id" in frame.columns else [""] * len(frame)
        seen: set[str] = set()
        items = []
        for line, image_id, age_text, male_text, patient in zip(
            lines, frame["id"], frame["boneage"], frame["male"], patients
        ):
            items.append(
                self._row(path, int(line), image_id.strip(), age_text, male_text, patient, folder, listing, seen)
            )
        return items

    def _row(self, path, line, image_id, age_text, male_text, patient, folder, listing, seen) -> dict:
        if not image_id:
            raise InputError(path, "empty id", row=line)
        if image_id in seen:
            raise InputError(path, f"id {short(image_id)} listed twice", row=line)
        seen.add(image_id)
        try:
            age = float(age_text)
        except ValueError:
            raise InputError(path, f"boneage {short(age_text)} is not a number (months)", row=line) from None
        if not math.isfinite(age) or age < 0:
            raise InputError(path, f"boneage {short(age_text)} must be a finite number of months >= 0", row=line)
        male = parse_male(male_text)
        if male is None:
            raise InputError(path, f"male {short(male_text)}: expected True, False, 1, 0 or empty", row=line)
        image = _find_image(folder, image_id, listing)
        if image is None:
            raise InputError(
                path, f"no image {short(image_id)}.png|jpg|jpeg|dcm in {folder} for id {short(image_id)}", row=line
            )
        if math.isnan(male) and self.sex_from_dicom and image.suffix.lower() in DICOM_SUFFIXES:
            male = dicom_male(image)
        sex_code = "u" if math.isnan(male) else str(int(male))
        return {
            "img_path": str(image),
            "img_id": image_id,
            "gt_age": age,
            "gt_male": male,
            STRATUM_KEY: f"{int(age // STRATUM_MONTHS)}:{sex_code}",
            GROUP_KEY: patient.strip() or None,
        }
