"""Pipeline step 1 for the mmengine Runner: a grey 8/16-bit PNG from disk -> ``img`` with its true value range.

mmcv's ``LoadImageFromFile`` reads with the ``color`` flag, which turns a 16-bit PNG into 8 bits; this
transform reads with OpenCV's ``IMREAD_UNCHANGED`` and keeps every bit.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from cxrdet.errors import InputError
from cxrdet.registry import TRANSFORMS

log = logging.getLogger(__name__)


@TRANSFORMS.register_module()
class LoadGreyImageFromFile(BaseTransform):
    """Reads a grey PNG (8- or 16-bit) into ``results['img']`` as ``H x W x channels``.

    Required keys: ``img_path``. Added keys: ``img``, ``img_shape``, ``ori_shape``.

    Args:
        channels: 1, or 3 identical channels (for COCO-pretrained backbones).
        to_float32: float32 pixels (values unchanged, e.g. up to 65535); False keeps the file's dtype
            (``uint8`` or ``uint16``).
        ignore_empty: return None for a missing/unreadable file instead of raising.
    """

    def __init__(self, channels: int = 3, to_float32: bool = True, ignore_empty: bool = False) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels={channels!r}: expected 1 or 3")
        self.channels = int(channels)
        self.to_float32 = bool(to_float32)
        self.ignore_empty = bool(ignore_empty)

    def transform(self, results: dict) -> dict | None:
        """Reads ``results['img_path']``.

        Raises:
            InputError: the file is missing, unreadable or not a single-channel image.
        """
        path = results["img_path"]
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            if self.ignore_empty:
                return None
            raise InputError(path, "cannot read the image")
        if image.ndim == 3:  # a grey image saved with 3 equal channels
            if image.shape[2] not in (3, 4) or not (
                np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2])
            ):
                raise InputError(path, f"not a grey image ({image.shape[2]} different channels)")
            image = image[..., 0]
        if self.to_float32:
            image = image.astype(np.float32)
        img = np.repeat(image[..., None], self.channels, axis=2)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(channels={self.channels}, to_float32={self.to_float32}, "
            f"ignore_empty={self.ignore_empty})"
        )
