"""Registered data sets and transforms (cxrdet's DATASETS and TRANSFORMS registries).

Holds the components the mmengine Runner builds from configs: image loading for grey 8/16-bit
radiographs (:class:`~cxrdet.datasets.transforms.loading.LoadGreyImageFromFile`), the VinDr COCO detection
set (:class:`~cxrdet.datasets.vindr_coco.VinDrCocoDataset`) now; bone-age CSV, class folders, image + mask
and imbalanced sets later. Importing this package registers them; it is the ``locations`` entry of
:data:`cxrdet.registry.DATASETS` and :data:`cxrdet.registry.TRANSFORMS`.
"""

from cxrdet.datasets.transforms import LoadGreyImageFromFile
from cxrdet.datasets.vindr_coco import VinDrCocoDataset

__all__ = ["LoadGreyImageFromFile", "VinDrCocoDataset"]
