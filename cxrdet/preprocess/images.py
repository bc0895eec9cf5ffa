"""DICOM -> PNG for one image: decode, VOI to a display image, resize, write atomically, return its record.

Runs inside ``cxrdet convert``'s worker processes. The record holds only non-identifying metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cxrdet.errors import CxrdetError, DicomError
from cxrdet.io.atomic import atomic_path
from cxrdet.io.dicom import decode_pixels, grey_level_errors, load_dataset, read_meta
from cxrdet.preprocess.geometry import Resize
from cxrdet.preprocess.intensity import to_display

IMAGES_DIR = "images"


RECORD_COLUMNS = (
    "image_id",
    "file",
    "original_height",
    "original_width",
    "height",
    "width",
    "scale_x",
    "scale_y",
    "sex",
    "age_years",
    "photometric",
    "bits_stored",
    "pixel_spacing_row",
    "pixel_spacing_col",
    "modality",
    "transfer_syntax",
)
"""The columns of ``meta.csv``: one record per converted image, non-identifying values only."""


def _record(meta, resize: Resize, file: str, image_id: str) -> dict:
    spacing = meta.pixel_spacing or (None, None)
    return {
        "image_id": image_id,
        "file": file,
        "original_height": meta.rows,
        "original_width": meta.columns,
        "height": resize.height,
        "width": resize.width,
        "scale_x": resize.scale_x,
        "scale_y": resize.scale_y,
        "sex": meta.sex,
        "age_years": meta.age_years,
        "photometric": meta.photometric,
        "bits_stored": meta.bits_stored,
        "pixel_spacing_row": spacing[0],
        "pixel_spacing_col": spacing[1],
        "modality": meta.modality,
        "transfer_syntax": meta.transfer_syntax,
    }


def dicom_to_display(path: str | os.PathLike, size: int, bit_depth: int = 8) -> tuple[np.ndarray, Resize, object]:
    """Decode a DICOM into the resized display image that training sees (the one preprocessing path).

    Used by ``cxrdet convert`` (written as PNG) and by ``cxrdet predict`` on DICOM folders, so that the
    two can never drift apart.

    Returns:
        (uint8/uint16 image with longest side ``size`` (0 = original), the :class:`Resize` used, the
        :class:`~cxrdet.io.dicom.DicomMeta`).

    Raises:
        DicomError: the file cannot be read, decoded or windowed.
    """
    ds = load_dataset(path)
    meta = read_meta(ds, path)
    stored = decode_pixels(ds, path)
    if stored.shape != (meta.rows, meta.columns):
        raise DicomError(path, f"pixel array {stored.shape} does not match Rows x Columns")
    with grey_level_errors(path):
        display = to_display(ds, stored, bit_depth=bit_depth)
    resize = Resize.longest_side(meta.rows, meta.columns, size)
    return resize.apply(display), resize, meta


@dataclass(frozen=True)
class ConvertTask:
    """One unit of ``cxrdet convert``'s work: a DICOM and where its PNG goes.

    Attributes:
        path: the DICOM file.
        image_id: its image id (the file stem, or its pseudonym).
        out: the dataset folder.
        size: longest side of the PNG (0 = original size).
        bit_depth: 8 or 16.
    """

    path: Path
    image_id: str
    out: Path
    size: int
    bit_depth: int


def dicom_to_png(task: ConvertTask) -> dict:
    """Convert one DICOM to ``out/images/<image_id>.png`` (atomically, replacing an older one).

    Returns:
        The image's record (see :func:`_record`): ids, original and PNG sizes, scales, sex, age, ...

    Raises:
        DicomError: the file cannot be read or decoded.
    """
    file = f"{IMAGES_DIR}/{task.image_id}.png"
    image, resize, meta = dicom_to_display(task.path, task.size, task.bit_depth)
    target = Path(task.out) / file
    with atomic_path(target) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise OSError("cannot write the PNG")
    return _record(meta, resize, file, task.image_id)


def convert_task(task: ConvertTask) -> tuple[dict | None, str | None]:
    """Runs :func:`dicom_to_png` in a worker: ``(record, None)`` or ``(None, reason)``.

    Never raises an ``Exception``: a bad file becomes a reason naming the problem but no raw value from
    the file (exception texts can quote header values), so one file cannot end the batch.
    """
    try:
        return dicom_to_png(task), None
    except CxrdetError as err:
        return None, getattr(err, "reason", type(err).__name__)
    except OSError as err:
        return None, f"cannot write the PNG ({type(err).__name__}: {os.strerror(err.errno) if err.errno else ''})"
    except Exception as err:  # one bad file must not end the batch
        return None, f"unexpected {type(err).__name__} while converting"


def init_worker() -> None:
    """Worker-process set-up: one OpenCV thread per process (one process per core)."""
    cv2.setNumThreads(1)
