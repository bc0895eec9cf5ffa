"""Training data for MMDetection: a ``cxrdet convert`` folder's COCO json (one fold or ``all``) as an mmdet data set.

``cxrdet convert`` writes ``OUT/coco/{all,foldK_train,foldK_val}.json`` (boxes in PNG pixels, category ids
``class_id + 1``), the PNGs under ``OUT/images/`` and the class list in ``OUT/classes.json``. This data set
takes its class names from that file (VinDr's 14 findings when there is none), keeps normal images as
negatives and carries every image's ORIGINAL DICOM size, which :class:`~cxrdet.evaluation.metric.VinDrMetric`
uses to score (and the engines to write predictions) in DICOM pixels.
"""

from __future__ import annotations

import colorsys
import contextlib
import io
import os.path as osp
from collections.abc import Sequence
from typing import Any

from mmdet.datasets import CocoDataset

from cxrdet.errors import InputError
from cxrdet.io.metainfo import CLASSES_FILE, read_convert_meta, read_meta_file
from cxrdet.registry import DATASETS
from cxrdet.structures import VINDR, DatasetMeta

ORIGINAL_SHAPE_KEY = "original_shape"
"""Data-info and image-meta key of the DICOM size ``(height, width)``; add it to ``PackDetInputs.meta_keys``."""

CXRDET_META_KEY = "cxrdet_meta"
"""Metainfo key holding the whole class list (``classes.json``'s dict, "no finding" included) for the metric."""


def palette_for(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct, reproducible RGB colours (hues spread evenly, golden-ratio order)."""
    out = []
    for k in range(n):
        r, g, b = colorsys.hsv_to_rgb((k * 0.618033988749895) % 1.0, 0.75, 0.95)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return out


def detector_metainfo(meta: DatasetMeta) -> dict[str, Any]:
    """mmdet ``metainfo`` of a class list: the finding classes (what the detector learns) and their colours.

    Label ``k`` of the detector is class id ``meta.finding_classes[k]``; the "no finding" class is image-level
    and has no boxes, so it is not a detector class. The full list travels under :data:`CXRDET_META_KEY`.
    """
    ids = meta.finding_classes
    colours = meta.palette if meta.palette is not None else palette_for(meta.num_classes)
    return {
        "classes": tuple(meta.name(c) for c in ids),
        "palette": [tuple(colours[c]) for c in ids],
        CXRDET_META_KEY: meta.to_dict(),
    }


@DATASETS.register_module()
class VinDrCocoDataset(CocoDataset):
    """mmdet ``CocoDataset`` over a ``cxrdet convert`` folder, classes from its ``classes.json``.

    Each data info also holds ``image_id`` (the VinDr id, the PNG's stem) and ``original_shape``
    (``(original_height, original_width)`` of the DICOM, from the COCO image entry).

    Args:
        *args: passed to :class:`mmdet.datasets.CocoDataset` (``ann_file``, ``data_root``, ``pipeline``, ...).
        classes_file: the class list, relative to ``data_root`` (default ``classes.json``); VinDr's when the
            file does not exist. Ignored when ``metainfo`` gives ``classes``.
        filter_cfg: mmdet's filter settings; default ``dict(filter_empty_gt=False)``: normal images (no box)
            stay in training as negatives.
        metainfo: explicit metainfo (``classes``, ``palette``); ``classes`` given here replace ``classes_file``
            (as a set without a "no finding" class).
        **kwargs: passed to :class:`mmdet.datasets.CocoDataset`.

    Raises:
        InputError: ``classes_file`` exists but is not a valid class list; an image entry lacks its size.
    """

    METAINFO = detector_metainfo(VINDR)

    def __init__(
        self,
        *args: Any,
        classes_file: str | None = CLASSES_FILE,
        filter_cfg: dict | None = None,
        metainfo: dict | None = None,
        **kwargs: Any,
    ) -> None:
        if filter_cfg is None:
            filter_cfg = dict(filter_empty_gt=False)
        given = dict(metainfo or {})
        if "classes" in given:  # classes by hand: a set without a "no finding" class
            meta = DatasetMeta(tuple(given["classes"]), None)
        else:
            meta = self._read_meta(kwargs.get("data_root", ""), classes_file)
        metainfo = {**detector_metainfo(meta), **given}
        self.class_meta = meta
        super().__init__(*args, filter_cfg=filter_cfg, metainfo=metainfo, **kwargs)

    @staticmethod
    def _read_meta(data_root: str, classes_file: str | None) -> DatasetMeta:
        if classes_file is None:
            return VINDR
        path = osp.join(data_root or "", classes_file)
        if classes_file == CLASSES_FILE:
            return read_convert_meta(osp.dirname(path) or ".")
        return read_meta_file(path)  # an explicitly named file must exist

    def load_data_list(self) -> list[dict]:
        """mmdet's loading, without pycocotools' "loading annotations into memory..." lines on stdout."""
        with contextlib.redirect_stdout(io.StringIO()):
            return super().load_data_list()

    def parse_data_info(self, raw_data_info: dict) -> dict | list[dict]:
        """mmdet's parsing plus ``image_id`` and ``original_shape`` (the DICOM size; the PNG's when absent)."""
        info = super().parse_data_info(raw_data_info)
        image = raw_data_info["raw_img_info"]
        height, width = image.get("original_height"), image.get("original_width")
        if height is None or width is None:
            height, width = image.get("height"), image.get("width")
        if not height or not width:
            raise InputError(self.ann_file, f"image {image.get('file_name')!r} has no height/width")
        info[ORIGINAL_SHAPE_KEY] = (int(height), int(width))
        info["image_id"] = str(image.get("image_id") or osp.splitext(image["file_name"])[0])
        return info

    def finding_class_ids(self) -> Sequence[int]:
        """The class id (of ``classes.json``) of each detector label ``0..len(classes) - 1``."""
        return self.class_meta.finding_classes
