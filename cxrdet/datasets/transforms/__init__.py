"""Data pipeline transforms registered in cxrdet's TRANSFORMS (scope ``cxrdet``).

mmcv's own transforms (``Resize``, ``CenterCrop``, ``RandomFlip``) need no entry here: mmcv 2 registers them
in mmengine's root TRANSFORMS, the parent of cxrdet's, so ``default_scope='cxrdet'`` configs name them as
they are once mmcv's transforms are imported (this package imports them, and a lookup imports this package).
"""

from cxrdet.datasets.transforms.loading import LoadGreyImageFromFile
from cxrdet.datasets.transforms.mask_loading import LoadMaskFromFile
from cxrdet.datasets.transforms.medical_loading import LoadMedicalImage
from cxrdet.datasets.transforms.packing import PackMedicalInputs

__all__ = ["LoadGreyImageFromFile", "LoadMaskFromFile", "LoadMedicalImage", "PackMedicalInputs"]
