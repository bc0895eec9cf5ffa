"""Data pipeline transforms registered in cxrdet's TRANSFORMS (scope ``cxrdet``).

Besides cxrdet's own transforms, mmcv's ``Resize``, ``CenterCrop`` and ``RandomFlip`` are registered here
under their own names: a lookup in the ``cxrdet`` scope searches cxrdet's registry and then mmengine's root,
never mmcv's sibling registry, so without these entries a ``default_scope='cxrdet'`` config could not name them.
"""

from mmcv.transforms import CenterCrop, RandomFlip, Resize

from cxrdet.datasets.transforms.loading import LoadGreyImageFromFile
from cxrdet.datasets.transforms.medical_loading import LoadMedicalImage
from cxrdet.datasets.transforms.packing import PackMedicalInputs
from cxrdet.registry import TRANSFORMS

MMCV_TRANSFORMS = (Resize, CenterCrop, RandomFlip)
"""mmcv transforms the task configs name without a scope (``type='Resize'``)."""

for _cls in MMCV_TRANSFORMS:
    if _cls.__name__ not in TRANSFORMS.module_dict:
        TRANSFORMS.register_module(module=_cls)

__all__ = ["MMCV_TRANSFORMS", "LoadGreyImageFromFile", "LoadMedicalImage", "PackMedicalInputs"]
