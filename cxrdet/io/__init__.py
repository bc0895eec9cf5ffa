"""cxrdet.io: files in and out — DICOM reading, prediction/label tables, COCO and YOLO datasets, atomic writes.

``read_dicom`` is re-exported here (``cxrdet.io.read_dicom``); pydicom itself is imported only when a file is read.
"""

from cxrdet.io.dicom import DicomImage, DicomMeta, read_dicom

__all__ = ["DicomImage", "DicomMeta", "read_dicom"]
