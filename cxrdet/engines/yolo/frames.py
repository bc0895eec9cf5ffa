"""YOLO engine, model input: DICOMs or converted PNGs -> letterboxed grey arrays + the geometry back to DICOM pixels.

The DICOM path runs exactly the training preprocessing of ``cxrdet convert`` (decode, modality/VOI LUT,
MONOCHROME1, min-max to 8/16 bits, resize of the longest side with :class:`~cxrdet.preprocess.geometry.Resize`)
and then what Ultralytics does to a PNG it reads (16-bit -> 8-bit as OpenCV's ``imread`` does, letterbox), so a
DICOM and its converted PNG give the same array. :class:`InferenceImages` is a map-style dataset (any
``torch.utils.data.DataLoader`` takes it; no torch import here) whose items carry the geometry:
letterbox frame -> PNG frame (:class:`Letterbox`) -> DICOM frame (:class:`Resize`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from cxrdet.engines.yolo.letterbox import PAD_VALUE, Letterbox
from cxrdet.errors import CxrdetError, InputError
from cxrdet.io.sources import SourceImage
from cxrdet.preprocess.geometry import Resize

log = logging.getLogger(__name__)


def source_resize(item: SourceImage) -> Resize | None:
    """The original -> PNG :class:`Resize` of a converted PNG (from its ``meta.csv`` sizes); None for DICOMs."""
    if item.height is None:
        return None
    return Resize(int(item.original_height), int(item.original_width), int(item.height), int(item.width))


def read_dicom_png_frame(path: str | os.PathLike, png_size: int, bit_depth: int = 8) -> tuple[np.ndarray, Resize]:
    """A DICOM as the 8-bit grey image Ultralytics would read from its converted PNG, and the resize used.

    The same :func:`cxrdet.preprocess.images.dicom_to_display` as ``cxrdet convert``, then OpenCV's
    16 -> 8 bit rule (``>> 8``).
    """
    from cxrdet.preprocess.images import dicom_to_display

    image, resize, _ = dicom_to_display(path, png_size, bit_depth)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    return image, resize


def read_png(path: str | os.PathLike) -> np.ndarray:
    """A converted PNG as 8-bit grey, as Ultralytics reads it (OpenCV; 16-bit PNGs become ``>> 8``)."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InputError(path, "cannot read the PNG")
    return image


@dataclass
class Prepared:
    """One dataset item: the letterboxed image and its geometry (``image`` is None when reading failed)."""

    image_id: str
    image: np.ndarray | None
    letterbox: Letterbox | None
    resize: Resize | None
    error: str | None = None


@dataclass(frozen=True)
class Preparer:
    """Reads and letterboxes one :class:`SourceImage` into a :class:`Prepared` (picklable: runs in workers).

    Args:
        imgsz: the model's input size (longest side).
        stride: the model's largest stride (letterbox pads to a multiple of it).
        png_size: longest side of the training PNGs (``cxrdet convert --size``), used for DICOMs.
        bit_depth: bit depth of the training PNGs.
    """

    imgsz: int
    stride: int
    png_size: int
    bit_depth: int = 8

    def __call__(self, item: SourceImage) -> Prepared:
        try:
            if item.kind == "dicom":
                image, resize = read_dicom_png_frame(item.path, self.png_size, self.bit_depth)
            else:
                image, resize = read_png(item.path), source_resize(item)
                if image.shape[:2] != (resize.height, resize.width):
                    raise InputError(
                        item.path, f"size {image.shape[:2]} differs from meta.csv {(resize.height, resize.width)}"
                    )
        except CxrdetError as err:
            return Prepared(item.image_id, None, None, None, getattr(err, "reason", type(err).__name__))
        except Exception as err:  # one unreadable image must not end the run
            return Prepared(item.image_id, None, None, None, f"unexpected {type(err).__name__} while reading")
        letterbox = Letterbox.fit(image.shape[0], image.shape[1], self.imgsz, self.stride)
        return Prepared(item.image_id, letterbox.apply(image), letterbox, resize)


class InferenceImages:
    """Map-style dataset of :class:`Prepared` items (give it to a DataLoader with :func:`collate`).

    Args:
        items: the images.
        imgsz, stride, png_size, bit_depth: see :class:`Preparer`.
    """

    def __init__(self, items: list[SourceImage], imgsz: int, stride: int, png_size: int, bit_depth: int = 8):
        self.items = list(items)
        self.prepare = Preparer(int(imgsz), int(stride), int(png_size), int(bit_depth))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Prepared:
        return self.prepare(self.items[index])


def prepared_batches(
    dataset: InferenceImages, batch: int, workers: int, timeout: float | None = None
) -> Iterator[tuple[np.ndarray, list[Prepared]]]:
    """``(pixels, items)`` batches of the dataset, in order, read by ``workers`` crash-isolated processes.

    A decoder that aborts, panics or hangs costs its image only: it comes back as a :class:`Prepared`
    without pixels whose ``error`` says what happened. ``workers=0`` reads in this process (no isolation).
    """
    from cxrdet.isolation import Crashed, isolated_map

    if workers <= 0:
        prepared: Iterator[Prepared] = map(dataset.prepare, dataset.items)
    else:
        prepared = (
            Prepared(item.image_id, None, None, None, result.describe("decoder"))
            if isinstance(result, Crashed)
            else result
            for item, result in isolated_map(
                dataset.prepare, dataset.items, workers=workers, timeout=timeout, window=max(4 * workers, 2 * batch)
            )
        )
    chunk: list[Prepared] = []
    for item in prepared:
        chunk.append(item)
        if len(chunk) == batch:
            yield collate(chunk)
            chunk = []
    if chunk:
        yield collate(chunk)


def collate(items: list[Prepared]) -> tuple[np.ndarray, list[Prepared]]:
    """Stacks a batch into one ``(B, H, W)`` uint8 array, padding at the bottom/right with grey 114.

    Extra padding at the bottom/right leaves each letterbox (and so the way back) unchanged.
    """
    ok = [p for p in items if p.image is not None]
    height = max((p.image.shape[0] for p in ok), default=0)
    width = max((p.image.shape[1] for p in ok), default=0)
    batch = np.full((len(ok), height, width), PAD_VALUE, dtype=np.uint8)
    for i, p in enumerate(ok):
        batch[i, : p.image.shape[0], : p.image.shape[1]] = p.image
        p.image = None  # the batch holds the pixels now
    return batch, items
