"""Data pipeline transforms registered in cxrdet's TRANSFORMS (scope ``cxrdet``)."""

from cxrdet.datasets.transforms.loading import LoadGreyImageFromFile

__all__ = ["LoadGreyImageFromFile"]
