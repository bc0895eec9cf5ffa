"""Data sets, segmentation: an image folder and a mask folder with the same file stems (CA-U-Net; issue 11).

Layout (the gastric example's, ``cxrdet make-example --task gastric``, and public sets such as Kvasir-SEG)::

    data_root/images/<id>.png|jpg|jpeg|bmp|tif   the images
    data_root/masks/<id>.png|...                  label maps: the class index per pixel (0 background)
    data_root/labels.csv                          optional image_id,label: the split's strata
    data_root/patients.csv                        optional image_id,patient_id: a patient's images in one subset

Items carry ``img_path``, ``img_id`` and ``seg_map_path`` (read by ``LoadMaskFromFile``). The seeded split is
stratified by ``labels.csv``'s label when the file is there, else by whether the mask has any foreground pixel
(so both subsets get lesion and lesion-free images). Masks saved as 0/255 (Kvasir-SEG) need
``LoadMaskFromFile(binary=True)`` in the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxrdet.datasets.class_folders import read_patients
from cxrdet.datasets.task_dataset import GROUP_KEY, STRATUM_KEY, TaskDataset
from cxrdet.datasets.transforms.mask_loading import read_label_map
from cxrdet.errors import ConfigError, InputError
from cxrdet.io.tables import columns_error, read_csv_table, record_lines
from cxrdet.registry import DATASETS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
LABELS_FILE = "labels.csv"
PATIENTS_FILE = "patients.csv"


def _files(folder: Path) -> dict[str, Path]:
    """``stem -> path`` of the image files directly in ``folder`` (hidden files left out).

    Raises:
        InputError: two files share a stem (``a.png`` and ``a.jpg``).
    """
    out: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            if path.stem in out:
                raise InputError(path, f"two files named {path.stem!r} ({out[path.stem].name} too): ids must be unique")
            out[path.stem] = path
    return out


def read_labels(path: Path) -> dict[str, str]:
    """``image_id -> label`` from a ``labels.csv``.

    Raises:
        InputError: missing columns, an empty id or label, or an image listed twice (naming the line).
    """
    frame = read_csv_table(path, "labels CSV", dtype=str, keep_default_na=False)
    missing = [c for c in ("image_id", "label") if c not in frame.columns]
    if missing:
        raise columns_error(path, list(frame.columns), missing, "image_id,label", ("image_id", "label"))
    out: dict[str, str] = {}
    for line, image_id, label in zip(record_lines(path, len(frame)), frame["image_id"], frame["label"]):
        image_id, label = image_id.strip(), label.strip()
        if not image_id or not label:
            raise InputError(path, "empty image_id or label", row=int(line))
        if image_id in out:
            raise InputError(path, f"image_id {image_id!r} listed twice", row=int(line))
        out[image_id] = label
    return out


@DATASETS.register_module()
class SegmentationDataset(TaskDataset):
    """Images with label masks of the same stem; the classes are the mask values' names.

    Args:
        data_root: the root (layout of the module docstring).
        img_dir: the image folder, relative to ``data_root``.
        mask_dir: the mask folder, relative to ``data_root``.
        classes: the mask classes in index order (background first).
        labels_file: the optional image-label table (strata), relative to ``data_root``.
        patients_file: the optional image -> patient table, relative to ``data_root``.
        binary_masks: read 0/255 masks as 0/1 when the stratum comes from the masks.
        **kwargs: :class:`~cxrdet.datasets.task_dataset.TaskDataset`'s options (``split``, ``subset``, ``seed``,
            ``val_fraction``, ``num_folds``, ``pipeline``, ...).

    Raises:
        InputError: a missing folder, no image, an image without its mask (naming it), a bad table, or a
            ``labels.csv`` that misses an image.
        ConfigError: fewer than two classes, or see :class:`~cxrdet.datasets.task_dataset.TaskDataset`.
    """

    def __init__(
        self,
        data_root: str | None = None,
        img_dir: str = "images",
        mask_dir: str = "masks",
        classes: Sequence[str] = ("background", "lesion"),
        labels_file: str = LABELS_FILE,
        patients_file: str = PATIENTS_FILE,
        binary_masks: bool = False,
        **kwargs: Any,
    ) -> None:
        self.img_dir, self.mask_dir = str(img_dir), str(mask_dir)
        self.classes = tuple(str(c) for c in classes)
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"SegmentationDataset: classes={self.classes} needs two or more distinct names")
        self.labels_file, self.patients_file = labels_file, patients_file
        self.binary_masks = bool(binary_masks)
        super().__init__(data_root=data_root, **kwargs)

    def read_metainfo(self, data_root: str) -> dict:
        return {"classes": self.classes}

    def read_items(self) -> list[dict]:
        root = Path(self.data_root)
        folders = {}
        for name, sub in (("image", self.img_dir), ("mask", self.mask_dir)):
            folder = root / sub
            if not folder.is_dir():
                raise InputError(folder, f"no such {name} folder (expected {sub}/ in the data root)")
            folders[name] = folder
        images, masks = _files(folders["image"]), _files(folders["mask"])
        if not images:
            raise InputError(folders["image"], f"no image ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        for stem, path in images.items():
            if stem not in masks:
                raise InputError(path, f"has no mask {stem}.<png|jpg|...> in {folders['mask']}")
        labels_path, patients_path = root / self.labels_file, root / self.patients_file
        labels = read_labels(labels_path) if labels_path.is_file() else None
        patients = read_patients(patients_path) if patients_path.is_file() else {}
        items = []
        for stem, path in images.items():
            if labels is not None:
                if stem not in labels:
                    raise InputError(labels_path, f"has no label for image {stem!r}")
                stratum: Any = labels[stem]
            else:
                stratum = int(read_label_map(str(masks[stem]), self.binary_masks).any())
            items.append(
                {
                    "img_path": str(path),
                    "img_id": stem,
                    "seg_map_path": str(masks[stem]),
                    STRATUM_KEY: stratum,
                    GROUP_KEY: patients.get(stem),
                }
            )
        return items
