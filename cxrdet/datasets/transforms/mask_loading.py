"""Pipeline step 2 of the segmentation and mask-guided models: a label PNG -> ``gt_seg_map`` (class per pixel).

Runs after the image loader (``LoadMedicalImage``), before mmcv's geometric transforms: ``Resize`` (nearest
interpolation for segmentation maps), ``RandomFlip`` and ``CenterCrop`` move ``results['gt_seg_map']`` with the
image, and ``PackMedicalInputs`` packs it as the data sample's ``gt_mask``. A result without ``seg_map_path``
(prediction time, or a data set without masks) passes through untouched.
"""

from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from cxrdet.errors import InputError
from cxrdet.registry import TRANSFORMS


def read_label_map(path: str, binary: bool = False) -> np.ndarray:
    """A label image as ``uint8 H x W`` class indices.

    Args:
        path: an 8-bit (or 16-bit with values < 256) PNG; a 3-channel file must have equal channels.
        binary: a two-class mask stored as 0/255 (or any foreground value): foreground -> 1. Values above 127
            count as foreground when the file has any value > 1 (JPEG-tolerant), else values > 0.

    Raises:
        InputError: missing, undecodable, multi-channel with different channels, or values >= 256 (naming it).
    """
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise InputError(path, "cannot read the mask (missing, or not a PNG/JPEG image)")
    if data.ndim == 3:
        if data.shape[2] not in (3, 4) or not (
            np.array_equal(data[..., 0], data[..., 1]) and np.array_equal(data[..., 0], data[..., 2])
        ):
            raise InputError(path, f"a label mask must have one channel (got {data.shape[2]} different channels)")
        data = data[..., 0]
    if data.dtype not in (np.uint8, np.uint16):
        raise InputError(path, f"a label mask must be 8- or 16-bit integers, got {data.dtype}")
    if binary:
        return (data > (127 if int(data.max()) > 1 else 0)).astype(np.uint8)
    if int(data.max()) > 255:
        raise InputError(path, f"mask value {int(data.max())} is not a class index (expected < 256)")
    return data.astype(np.uint8)


@TRANSFORMS.register_module()
class LoadMaskFromFile(BaseTransform):
    """Reads ``results['seg_map_path']`` into ``results['gt_seg_map']`` (``uint8 H x W``, class indices).

    Required keys: none (``seg_map_path`` None or absent: nothing is added). Uses ``ori_shape`` (the image's
    ``(h, w)`` as read) to check that the mask has the image's size. Added keys: ``gt_seg_map``.

    Args:
        num_classes: when given, every mask value must be below it (or equal ``ignore_index``).
        ignore_index: a value allowed beyond ``num_classes`` (pixels without a label).
        binary: foreground of a 0/255 two-class mask -> 1 (see :func:`read_label_map`).
    """

    def __init__(self, num_classes: int | None = None, ignore_index: int = 255, binary: bool = False) -> None:
        if num_classes is not None and (isinstance(num_classes, bool) or int(num_classes) < 1):
            raise ValueError(f"num_classes={num_classes!r}: expected a positive integer or None")
        self.num_classes = None if num_classes is None else int(num_classes)
        self.ignore_index = int(ignore_index)
        self.binary = bool(binary)

    def transform(self, results: dict) -> dict:
        """Loads the mask when the results name one.

        Raises:
            InputError: an unreadable mask, a size other than the image's, or a value that is not a class
                index (naming the mask file).
        """
        path = results.get("seg_map_path")
        if path is None:
            return results
        mask = read_label_map(path, self.binary)
        shape = results.get("ori_shape")
        if shape is not None and tuple(mask.shape) != tuple(shape)[:2]:
            raise InputError(
                path, f"mask size {mask.shape[1]}x{mask.shape[0]} differs from the image's {shape[1]}x{shape[0]}"
            )
        if self.num_classes is not None:
            bad = (mask >= self.num_classes) & (mask != self.ignore_index)
            if bad.any():
                raise InputError(
                    path,
                    f"mask value {int(mask[bad].max())} is not a class index (expected < {self.num_classes}"
                    f" or {self.ignore_index})",
                )
        results["gt_seg_map"] = mask
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"binary={self.binary})"
        )
