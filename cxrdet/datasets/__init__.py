"""Registered data sets and transforms (cxrdet's DATASETS and TRANSFORMS registries).

Holds the components the mmengine Runner builds from configs: image loading for grey 8/16-bit
radiographs (:class:`~cxrdet.datasets.transforms.loading.LoadGreyImageFromFile`), the VinDr COCO detection
set (:class:`~cxrdet.datasets.vindr_coco.VinDrCocoDataset`), and the task models' data: class folders
(:class:`~cxrdet.datasets.class_folders.ClassFolderDataset`), the RSNA bone-age CSV
(:class:`~cxrdet.datasets.bone_age_csv.BoneAgeDataset`), a convert folder's normal/abnormal labels
(:class:`~cxrdet.datasets.vindr_images.VinDrImageDataset`), their loader
(:class:`~cxrdet.datasets.transforms.medical_loading.LoadMedicalImage`) and packer
(:class:`~cxrdet.datasets.transforms.packing.PackMedicalInputs`); their splits are
:mod:`cxrdet.datasets.splits`. Importing this package registers them; it is the ``locations`` entry of
:data:`cxrdet.registry.DATASETS` and :data:`cxrdet.registry.TRANSFORMS`.
"""

from cxrdet.datasets import image_csv, masked_classes, segmentation_folders  # noqa: F401 - register (issue 11)
from cxrdet.datasets.bone_age_csv import BoneAgeDataset
from cxrdet.datasets.class_folders import ClassFolderDataset
from cxrdet.datasets.transforms import LoadGreyImageFromFile, LoadMedicalImage, PackMedicalInputs
from cxrdet.datasets.vindr_coco import VinDrCocoDataset
from cxrdet.datasets.vindr_images import VinDrImageDataset

__all__ = [
    "BoneAgeDataset",
    "ClassFolderDataset",
    "LoadGreyImageFromFile",
    "LoadMedicalImage",
    "PackMedicalInputs",
    "VinDrCocoDataset",
    "VinDrImageDataset",
]
