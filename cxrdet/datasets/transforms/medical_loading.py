"""Pipeline step 1 of the task models: a PNG (8/16-bit), JPEG or DICOM file -> ``img`` float32 in [0, 1].

8-bit images are divided by 255 and 16-bit PNGs by 65535 (every bit kept: mmcv's own loader reads 8 bits);
a colour file is turned grey (OpenCV's luma weights), unless ``colour=True`` keeps its R, G, B channels
(endoscopy images: the gastric models). DICOM files (``.dcm``/``.dicom``, or any file with the
``DICM`` mark) go through :func:`cxrdet.io.dicom.read_dicom` (modality LUT, window, MONOCHROME1) and are
min-max normalised. Every failure is an :class:`~cxrdet.errors.InputError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from cxrdet.errors import DicomError, InputError
from cxrdet.registry import TRANSFORMS

DICOM_SUFFIXES = (".dcm", ".dicom")


def _is_dicom(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in DICOM_SUFFIXES or head[128:132] == b"DICM"


def read_dicom_unit(path: Path) -> np.ndarray:
    """A DICOM image as float32 in [0, 1] (min-max over the image; a constant image is all zeros).

    Raises:
        InputError: the file cannot be decoded (the DICOM reader's reason).
    """
    from cxrdet.io.dicom import read_dicom

    try:
        pixels = read_dicom(path).pixels.astype(np.float32, copy=False)
    except DicomError as err:
        raise InputError(path, f"cannot read the DICOM image: {err.reason}") from None
    lo, hi = float(pixels.min()), float(pixels.max())
    if hi <= lo:
        return np.zeros(pixels.shape, np.float32)
    return ((pixels - lo) / (hi - lo)).astype(np.float32)


def read_raster_unit(path: Path, data: bytes, colour: bool = False) -> np.ndarray:
    """A PNG/JPEG (any OpenCV format) as float32 in [0, 1]: 8-bit / 255, 16-bit / 65535.

    Args:
        path: the file (for messages).
        data: its bytes.
        colour: keep a colour file's channels (``H x W x 3``, R, G, B order; alpha dropped); a grey file stays
            ``H x W``. False: every file is grey ``H x W``.

    Raises:
        InputError: not a decodable image, or an unsupported pixel type.
    """
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(path, "cannot decode the image (not a PNG, JPEG or DICOM file, or damaged)")
    if image.ndim == 3:
        if image.shape[2] == 1:
            image = image[..., 0]
        elif image.shape[2] in (3, 4):
            bgr = image[..., :3]
            image = np.ascontiguousarray(bgr[..., ::-1]) if colour else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        else:
            raise InputError(path, f"unsupported image with {image.shape[2]} channels")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255.0)
    if image.dtype == np.uint16:
        return image.astype(np.float32) / np.float32(65535.0)
    raise InputError(path, f"unsupported pixel type {image.dtype} (expected 8- or 16-bit)")


def read_unit_image(path: str | Path, colour: bool = False) -> np.ndarray:
    """Any supported file as a 2-D float32 grey image in [0, 1] (``colour``: a colour raster as ``H x W x 3`` RGB).

    Raises:
        InputError: missing, unreadable or undecodable (naming the file).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such image file") from None
    except OSError as err:
        raise InputError(path, f"cannot read the image ({err.strerror or type(err).__name__})") from None
    if not data:
        raise InputError(path, "empty image file (0 bytes)")
    if _is_dicom(path, data[:132]):
        return read_dicom_unit(path)
    return read_raster_unit(path, data, colour)


@TRANSFORMS.register_module()
class LoadMedicalImage(BaseTransform):
    """Reads ``results['img_path']`` into ``results['img']``: float32 ``H x W x channels`` in [0, 1].

    Required keys: ``img_path``. Added keys: ``img``, ``img_shape``, ``ori_shape`` (both ``(h, w)`` of the
    file as read).

    Args:
        channels: 1 (grey), or 3 identical channels (for backbones made for colour).
        colour: with ``channels=3``, a colour file keeps its own R, G, B channels (a grey or DICOM file still
            gets 3 identical ones).
    """

    def __init__(self, channels: int = 1, colour: bool = False) -> None:
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(f"channels={channels!r}: expected 1 or 3")
        if colour and channels != 3:
            raise ValueError("colour=True needs channels=3")
        self.channels = int(channels)
        self.colour = bool(colour)

    def transform(self, results: dict) -> dict:
        """Loads the image.

        Raises:
            InputError: the file is missing, unreadable or not a supported image (naming it).
        """
        pixels = read_unit_image(results["img_path"], self.colour)
        if pixels.ndim == 3:  # colour kept
            img = pixels
        else:
            img = np.repeat(pixels[..., None], self.channels, axis=2) if self.channels > 1 else pixels[..., None]
        results["img"] = np.ascontiguousarray(img, dtype=np.float32)
        results["img_shape"] = tuple(pixels.shape[:2])
        results["ori_shape"] = tuple(pixels.shape[:2])
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channels={self.channels}, colour={self.colour})"
