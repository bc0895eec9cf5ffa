"""DICOM -> PNG for one image: decode, VOI to a display image, resize, write atomically, return its record.

Runs inside ``cxrdet convert``'s worker processes. The record holds only non-identifying metadata.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from cxrdet.errors import CxrdetError, DicomError
from cxrdet.io.atomic import atomic_path
from cxrdet.io.dicom import decode_pixels, load_dataset, read_meta
from cxrdet.preprocess.geometry import Resize
from cxrdet.preprocess.intensity import to_display

IMAGES_DIR = "images"


def png_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) read from a PNG's IHDR chunk without decoding it."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    width, height = struct.unpack(">II", head[16:24])
    return height, width


def _record(meta, resize: Resize, file: str) -> dict:
    spacing = meta.pixel_spacing or (None, None)
    return {
        "image_id": meta.image_id,
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
    try:
        display = to_display(ds, stored, bit_depth=bit_depth)
    except (ValueError, IndexError, KeyError, AttributeError, TypeError) as err:
        raise DicomError(path, f"bad modality/VOI LUT attributes: {err}") from None
    resize = Resize.longest_side(meta.rows, meta.columns, size)
    return resize.apply(display), resize, meta


def dicom_to_png(path: str | os.PathLike, out_dir: str | os.PathLike, size: int, bit_depth: int) -> dict:
    """Convert one DICOM to ``out_dir/images/<image_id>.png`` (skipped if that PNG already exists).

    Args:
        path: the DICOM file.
        out_dir: the dataset folder.
        size: longest side of the PNG (0 = original size).
        bit_depth: 8 or 16.

    Returns:
        The image's record (see :func:`_record`): ids, original and PNG sizes, scales, sex, age, ...

    Raises:
        DicomError: the file cannot be read or decoded.
    """
    path, out_dir = Path(path), Path(out_dir)
    file = f"{IMAGES_DIR}/{path.stem}.png"
    target = out_dir / file
    if target.exists():  # resumed run: complete by construction (atomic rename)
        import pydicom

        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            meta = read_meta(ds, path)
        except Exception as err:  # noqa: BLE001
            raise DicomError(path, f"cannot re-read header: {type(err).__name__}") from None
        height, width = png_size(target)
        resize = Resize(meta.rows, meta.columns, height, width)
        return _record(meta, resize, file)
    image, resize, meta = dicom_to_display(path, size, bit_depth)
    with atomic_path(target) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise OSError(f"cannot write {target}")
    return _record(meta, resize, file)


def convert_task(path: Path, out: Path, size: int, bit_depth: int) -> tuple[Path, dict | None, str | None, bool]:
    """One unit of ``cxrdet convert``'s work: (path, record or None, failure reason or None, was resumed).

    Never raises: a bad file becomes a reason, so one file cannot end the batch.
    """
    resumed = (Path(out) / IMAGES_DIR / f"{Path(path).stem}.png").exists()
    try:
        return path, dicom_to_png(path, out, size, bit_depth), None, resumed
    except CxrdetError as err:
        return path, None, getattr(err, "reason", str(err)), resumed
    except Exception as err:  # noqa: BLE001 - one bad file must not end the batch
        return path, None, f"unexpected {type(err).__name__}: {err}", resumed


def init_worker() -> None:
    """Worker-process set-up: one OpenCV thread per process (one process per core)."""
    cv2.setNumThreads(1)
