"""Inference input: DICOMs or converted PNGs -> letterboxed grey arrays + the geometry back to DICOM pixels.

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
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from cxrdet.errors import CxrdetError, InputError
from cxrdet.preprocess.geometry import Resize

log = logging.getLogger(__name__)

DICOM_SUFFIXES = (".dcm", ".dicom")
PAD_VALUE = 114  # Ultralytics' letterbox grey


@dataclass(frozen=True)
class Letterbox:
    """Ultralytics' letterbox of one image: resize to ``new_height x new_width``, paste at ``(left, top)``.

    Mirrors ``ultralytics.data.augment.LetterBox(imgsz, auto=..., center=True, stride=...)`` (what its
    predictor does), and the inverse mirrors ``ultralytics.utils.ops.scale_boxes`` with separate x/y gains.
    """

    height: int
    width: int
    new_height: int
    new_width: int
    top: int
    left: int
    canvas_height: int
    canvas_width: int

    @classmethod
    def fit(cls, height: int, width: int, imgsz: int, stride: int = 32, auto: bool = True) -> Letterbox:
        """Letterbox of a ``height x width`` image into ``imgsz`` (``auto``: pad only to a multiple of ``stride``)."""
        r = min(imgsz / height, imgsz / width)
        new_w, new_h = max(round(width * r), 1), max(round(height * r), 1)
        dw, dh = imgsz - new_w, imgsz - new_h
        if auto:
            dw, dh = dw % stride, dh % stride
        dw, dh = dw / 2, dh / 2
        top, bottom = round(dh - 0.1), round(dh + 0.1)
        left, right = round(dw - 0.1), round(dw + 0.1)
        return cls(height, width, new_h, new_w, top, left, top + new_h + bottom, left + new_w + right)

    @property
    def gains(self) -> np.ndarray:
        gx, gy = self.new_width / self.width, self.new_height / self.height
        return np.array([gx, gy, gx, gy])

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Resize (bilinear, as Ultralytics) and pad with grey 114 to ``canvas_height x canvas_width``."""
        if image.shape[:2] != (self.new_height, self.new_width):
            image = cv2.resize(image, (self.new_width, self.new_height), interpolation=cv2.INTER_LINEAR)
        bottom = self.canvas_height - self.top - self.new_height
        right = self.canvas_width - self.left - self.new_width
        return cv2.copyMakeBorder(image, self.top, bottom, self.left, right, cv2.BORDER_CONSTANT,
                                  value=(PAD_VALUE,) * 3)

    def boxes_to_source(self, boxes) -> np.ndarray:
        """xyxy boxes on the canvas -> the letterboxed image's own pixels, clipped to it."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        out = (boxes - np.array([self.left, self.top, self.left, self.top])) / self.gains
        return np.clip(out, 0, [self.width, self.height, self.width, self.height])

    def hflipped(self, canvas_width: int) -> Letterbox:
        """The letterbox of the mirrored image inside a canvas ``canvas_width`` wide that was flipped as a whole."""
        return Letterbox(self.height, self.width, self.new_height, self.new_width, self.top,
                         canvas_width - self.left - self.new_width, self.canvas_height, canvas_width)


@dataclass(frozen=True)
class SourceImage:
    """One image to predict.

    Attributes:
        image_id: the DICOM's file stem.
        path: a DICOM file or a converted PNG.
        kind: ``"dicom"`` or ``"png"``.
        resize: original (DICOM) -> PNG frame, for PNGs (from ``meta.csv``); None for DICOMs (read from the file).
    """

    image_id: str
    path: Path
    kind: str
    resize: Resize | None = None


def _meta_sources(root: Path, ids: list[str] | None = None) -> list[SourceImage]:
    meta = pd.read_csv(root / "meta.csv", dtype={"image_id": str})
    need = {"image_id", "file", "original_height", "original_width", "height", "width"}
    if not need <= set(meta.columns):
        raise InputError(root / "meta.csv", f"needs columns {sorted(need)}", row=1)
    if ids is not None:
        meta = meta.set_index("image_id", drop=False)
        unknown = [i for i in ids if i not in meta.index]
        if unknown:
            raise InputError(root / "meta.csv", f"{len(unknown)} listed images are not in it (first: {unknown[0]})")
        meta = meta.loc[ids]
    return [SourceImage(str(r.image_id), root / r.file, "png",
                        Resize(int(r.original_height), int(r.original_width), int(r.height), int(r.width)))
            for r in meta.itertuples(index=False)]


def find_sources(source: str | os.PathLike) -> list[SourceImage]:
    """The images under ``source``, sorted by image id.

    ``source`` is one of: a folder of ``.dcm``/``.dicom`` files; a ``cxrdet convert`` output folder (its
    ``meta.csv`` lists the PNGs and their original sizes) or its ``images/`` folder; a text file of PNG
    paths inside a convert folder (e.g. ``yolo/fold0/val.txt``).

    Raises:
        InputError: nothing to predict, duplicate image ids, or PNGs without their ``meta.csv``.
    """
    source = Path(source)
    if source.is_file() and source.suffix == ".txt":
        paths = [Path(line.strip()) for line in source.read_text().splitlines() if line.strip()]
        roots = {p.parent.parent for p in paths}
        if len(roots) != 1 or not (next(iter(roots)) / "meta.csv").is_file():
            raise InputError(source, "the listed PNGs must all lie in one cxrdet convert folder's images/")
        return sorted(_meta_sources(roots.pop(), [p.stem for p in paths]), key=lambda s: s.image_id)
    if not source.is_dir():
        raise InputError(source, "no such folder (expected DICOMs, a convert folder or its images/)")
    for root in (source, source.parent):
        if (root / "meta.csv").is_file() and (root / "images").is_dir() and source in (root, root / "images"):
            return sorted(_meta_sources(root), key=lambda s: s.image_id)
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in DICOM_SUFFIXES)
    if not files:
        raise InputError(source, f"no {'/'.join(DICOM_SUFFIXES)} files, and not a convert folder (no meta.csv)")
    stems = pd.Series([f.stem for f in files])
    if stems.duplicated().any():
        raise InputError(source, f"image id {stems[stems.duplicated()].iloc[0]!r} is used by two files")
    return [SourceImage(f.stem, f, "dicom") for f in files]


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
                image, resize = read_png(item.path), item.resize
                if image.shape[:2] != (resize.height, resize.width):
                    raise InputError(item.path, f"size {image.shape[:2]} differs from meta.csv "
                                     f"{(resize.height, resize.width)}")
        except CxrdetError as err:
            return Prepared(item.image_id, None, None, None, getattr(err, "reason", type(err).__name__))
        except Exception as err:  # noqa: BLE001 - one unreadable image must not end the run
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


def prepared_batches(dataset: InferenceImages, batch: int, workers: int,
                     timeout: float | None = None) -> Iterator[tuple[np.ndarray, list[Prepared]]]:
    """``(pixels, items)`` batches of the dataset, in order, read by ``workers`` crash-isolated processes.

    A decoder that aborts, panics or hangs costs its image only: it comes back as a :class:`Prepared`
    without pixels whose ``error`` says what happened. ``workers=0`` reads in this process (no isolation).
    """
    from cxrdet.isolation import Crashed, isolated_map

    if workers <= 0:
        prepared: Iterator[Prepared] = map(dataset.prepare, dataset.items)
    else:
        prepared = (Prepared(item.image_id, None, None, None, result.describe("decoder"))
                    if isinstance(result, Crashed) else result
                    for item, result in isolated_map(dataset.prepare, dataset.items, workers=workers,
                                                     timeout=timeout, window=max(4 * workers, 2 * batch)))
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
        batch[i, :p.image.shape[0], :p.image.shape[1]] = p.image
        p.image = None  # the batch holds the pixels now
    return batch, items
