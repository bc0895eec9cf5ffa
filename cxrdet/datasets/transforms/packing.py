"""Last pipeline step of the task models: ``img`` and the ground truth -> ``inputs`` + one data sample.

``inputs`` is a float32 tensor ``C x H x W`` (the model's data preprocessor normalises and batches it);
``data_samples`` is an :class:`mmengine.structures.BaseDataElement` carrying the image's meta keys and the
ground-truth fields present in the results: ``gt_label`` (long scalar, class index), ``gt_age`` (float32
scalar, months), ``gt_male`` (float32 scalar, 1 male / 0 female / nan unknown) and ``gt_mask`` (long ``H x W``,
class per pixel, from ``gt_seg_map``: ``LoadMaskFromFile``). None at prediction time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from cxrdet.registry import TRANSFORMS

DEFAULT_META_KEYS = ("img_id", "img_path", "ori_shape", "img_shape", "flip")


def _scalar(value, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().reshape(()).to(dtype)
    return torch.tensor(np.asarray(value).item(), dtype=dtype)


@TRANSFORMS.register_module()
class PackMedicalInputs(BaseTransform):
    """Packs ``results['img']`` (``H x W`` or ``H x W x C``) and the ground truth for a task model.

    Args:
        meta_keys: keys copied into the data sample's metainfo when present in the results.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        """Returns ``{'inputs': tensor C x H x W, 'data_samples': BaseDataElement}``."""
        img = np.asarray(results["img"])
        if img.ndim == 2:  # cv2 drops a single channel when resizing
            img = img[..., None]
        if img.ndim != 3:
            raise ValueError(f"PackMedicalInputs: img of shape {img.shape}, expected H x W or H x W x C")
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
        sample = BaseDataElement(metainfo={k: results[k] for k in self.meta_keys if k in results})
        if results.get("gt_label") is not None:
            sample.gt_label = _scalar(results["gt_label"], torch.long)
        if results.get("gt_age") is not None:
            sample.gt_age = _scalar(results["gt_age"], torch.float32)
        if "gt_male" in results:
            male = results["gt_male"]
            sample.gt_male = _scalar(math.nan if male is None else male, torch.float32)
        if results.get("gt_seg_map") is not None:
            sample.gt_mask = torch.from_numpy(np.ascontiguousarray(results["gt_seg_map"], dtype=np.int64))
        return {"inputs": inputs, "data_samples": sample}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(meta_keys={self.meta_keys})"
