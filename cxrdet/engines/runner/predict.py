"""Runner engine, inference: an mmdet config + checkpoint over DICOMs or PNGs -> a BoxTable in ORIGINAL DICOM pixels.

The model is built from the config and loaded from the checkpoint (a full mmengine checkpoint as trusted,
a ``*_weights.pth`` as weights only). A PNG goes through the config's own test pipeline (its loading
transform included); a DICOM through :func:`cxrdet.preprocess.images.dicom_to_display` (the display path of
``cxrdet convert``) and the loading transform's conversion, so both give the array the model was trained on.
Decoding runs in crash-isolated workers (a decoder that aborts or hangs costs its image, listed as a
failure). mmdet returns boxes in the loaded image's frame; they map back by the PNG -> DICOM
:class:`~cxrdet.preprocess.geometry.Resize`. ``tta``: the original and the horizontally flipped image,
merged by WBF (:func:`cxrdet.ensemble.tta.merge_tta`, as the YOLO path) or, with ``tta_merge='nms'``,
by mmdet's ``DetTTAModel``.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrdet.engines.base import PredictResult
from cxrdet.engines.runner.model import build_model, detector_class_ids, test_pipeline, torch_device
from cxrdet.errors import ConfigError, CxrdetError, InputError
from cxrdet.io.sources import SourceImage
from cxrdet.preprocess.geometry import Resize
from cxrdet.structures import BoxTable, DatasetMeta, Detections

log = logging.getLogger(__name__)

TTA_MERGES = ("wbf", "nms")


@dataclass
class PredictOptions:
    """Options of :func:`predict` (``cxrdet predict``'s flags; None: the config's test settings)."""

    imgsz: int | None = None
    png_size: int | None = None
    bit_depth: int | None = None
    conf: float | None = None
    iou: float | None = None
    max_det: int | None = None
    tta: bool = False
    tta_iou: float = 0.4
    tta_skip_box_thr: float = 0.0
    tta_merge: str = "wbf"
    batch: int = 4
    workers: int | None = None
    timeout: float | None = 300.0
    device: str | None = None
    half: bool = False
    progress: bool = True

    @classmethod
    def from_options(cls, options: dict) -> PredictOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown predict option(s) {unknown} (known: {', '.join(sorted(known))})")
        opts = cls(**{k: v for k, v in options.items() if v is not None})
        if opts.tta_merge not in TTA_MERGES:
            raise ConfigError(f"predict.tta_merge={opts.tta_merge!r}: expected one of {TTA_MERGES}")
        return opts


@dataclass
class Loaded:
    """One image read by :class:`Reader`: the loading transform's results, or why it failed."""

    image_id: str
    results: dict | None
    resize: Resize | None
    error: str | None = None


def _loader_array(image: np.ndarray, load_cfg: dict) -> np.ndarray:
    """A display image (uint8/uint16 grey) as the config's loading transform would have read its PNG."""
    kind = str(load_cfg.get("type", ""))
    if kind.endswith("LoadGreyImageFromFile"):
        out = image.astype(np.float32) if load_cfg.get("to_float32", True) else image
        return np.repeat(out[..., None], int(load_cfg.get("channels", 3)), axis=2)
    if kind.endswith("LoadImageFromFile"):  # mmcv's colour read: 8 bits (OpenCV >> 8), 3 channels
        out = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image.astype(np.uint8)
        out = np.repeat(out[..., None], 3, axis=2)
        return out.astype(np.float32) if load_cfg.get("to_float32", False) else out
    raise ConfigError(f"test pipeline starts with {kind!r}: expected LoadGreyImageFromFile or LoadImageFromFile")


_TRANSFORMS: dict[str, Any] = {}


def _load_transform(load_cfg: dict, scope: str):
    key = repr(sorted(load_cfg.items()))
    if key not in _TRANSFORMS:
        from mmdet.registry import TRANSFORMS
        from mmengine.registry import DefaultScope

        import cxrdet.datasets  # noqa: F401 - registers LoadGreyImageFromFile

        with DefaultScope.overwrite_default_scope(scope):
            _TRANSFORMS[key] = TRANSFORMS.build(copy.deepcopy(load_cfg))
    return _TRANSFORMS[key]


@dataclass(frozen=True)
class Reader:
    """Reads one :class:`SourceImage` into :class:`Loaded` (picklable: runs in the decoding workers).

    Args:
        load_cfg: the config's loading transform.
        scope: the config's default scope (to build it).
        png_size, bit_depth: the training PNGs' longest side and bit depth (for DICOMs).
    """

    load_cfg: dict
    scope: str
    png_size: int
    bit_depth: int

    def __call__(self, item: SourceImage) -> Loaded:
        try:
            if item.kind == "dicom":
                from cxrdet.preprocess.images import dicom_to_display

                image, resize, _ = dicom_to_display(item.path, self.png_size, self.bit_depth)
                img = _loader_array(image, self.load_cfg)
                results = {"img": img, "img_shape": img.shape[:2], "ori_shape": img.shape[:2]}
            else:
                resize = Resize(int(item.original_height), int(item.original_width), int(item.height), int(item.width))
                results = _load_transform(self.load_cfg, self.scope)({"img_path": str(item.path)})
                if results is None or tuple(results["img"].shape[:2]) != (resize.height, resize.width):
                    raise InputError(
                        item.path, f"unreadable, or its size differs from meta.csv {resize.height, resize.width}"
                    )
        except CxrdetError as err:
            return Loaded(item.image_id, None, None, getattr(err, "reason", type(err).__name__))
        except Exception as err:
            return Loaded(item.image_id, None, None, f"unexpected {type(err).__name__} while reading")
        results.update(img_path=str(item.path), img_id=item.image_id)
        return Loaded(item.image_id, results, resize)


def default_workers() -> int:
    """Decoding processes beside the model: one core left to the model; 1 to 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, max(1, cores - 1))


def read_all(reader: Reader, items: list[SourceImage], workers: int, timeout: float | None) -> Iterator[Loaded]:
    """The images in order, read by ``workers`` crash-isolated processes (0: in this process)."""
    from cxrdet.isolation import Crashed, isolated_map

    if workers <= 0:
        yield from map(reader, items)
        return
    for item, result in isolated_map(reader, items, workers=workers, timeout=timeout, window=4 * workers):
        yield Loaded(item.image_id, None, None, result.describe("decoder")) if isinstance(result, Crashed) else result


def _forward(model, pipeline, loaded: list[Loaded], flip: bool) -> list:
    from mmengine.dataset import pseudo_collate

    datas = []
    for item in loaded:
        results = dict(item.results)
        if flip:
            results["img"] = np.ascontiguousarray(results["img"][:, ::-1])
        data = pipeline(results)
        data["data_samples"].set_metainfo({"flip": flip, "flip_direction": "horizontal" if flip else None})
        datas.append(data)
    return model.test_step(pseudo_collate(datas))


def _detections(loaded: list[Loaded], samples: list, class_ids: np.ndarray, opts: PredictOptions) -> list[Detections]:
    """mmdet samples (boxes in the loaded image frame) -> :class:`Detections` in DICOM pixels."""
    out = []
    for item, sample in zip(loaded, samples):
        pred = sample.pred_instances
        boxes = pred.bboxes.detach().cpu().numpy().astype(np.float64).reshape(-1, 4)
        scores = pred.scores.detach().cpu().numpy().astype(np.float64).reshape(-1)
        labels = pred.labels.detach().cpu().numpy().astype(np.int64).reshape(-1)
        if len(labels) and labels.max() >= len(class_ids):
            raise ConfigError(f"the model predicts label {labels.max()}, the data set has {len(class_ids)} classes")
        keep = np.argsort(-scores, kind="stable")
        if opts.conf is not None:
            keep = keep[scores[keep] >= opts.conf]
        if opts.max_det is not None:
            keep = keep[: opts.max_det]
        out.append(
            Detections(item.image_id, item.resize.boxes_to_original(boxes[keep]), scores[keep], class_ids[labels[keep]])
        )
    return out


def _run(model, pipeline, batches, class_ids, opts: PredictOptions, total: int):
    import torch
    from tqdm import tqdm

    plain, flipped, failures, sizes = [], [], {}, {}
    tta_model = None
    if opts.tta and opts.tta_merge == "nms":
        from mmdet.models.test_time_augs import DetTTAModel
        from mmengine.config import ConfigDict

        iou = 0.5 if opts.iou is None else opts.iou
        tta_cfg = ConfigDict(nms={"type": "nms", "iou_threshold": iou}, max_per_img=opts.max_det or 100)
        tta_model = DetTTAModel(module=model, tta_cfg=tta_cfg)
    bar = tqdm(total=total, desc="predict", unit="img", disable=not opts.progress or None)
    with torch.inference_mode():
        for loaded in batches:
            ok = [p for p in loaded if p.error is None]
            failures.update({p.image_id: p.error for p in loaded if p.error is not None})
            sizes.update({p.image_id: (p.resize.original_height, p.resize.original_width) for p in ok})
            if ok:
                samples = _forward(model, pipeline, ok, flip=False)
                if opts.tta:
                    mirrored = _forward(model, pipeline, ok, flip=True)
                    if tta_model is not None:
                        samples = tta_model.merge_preds([list(pair) for pair in zip(samples, mirrored)])
                    else:
                        flipped += _detections(ok, mirrored, class_ids, opts)
                plain += _detections(ok, samples, class_ids, opts)
            bar.update(len(loaded))
    bar.close()
    return plain, flipped, failures, sizes


def _chunks(loaded: Iterator[Loaded], size: int) -> Iterator[list[Loaded]]:
    chunk: list[Loaded] = []
    for item in loaded:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def predict(
    cfg, checkpoint: str | Path, items: list[SourceImage], meta: DatasetMeta, record: dict, opts: PredictOptions
) -> PredictResult:
    """Runs an mmdet model over images; boxes come back in ORIGINAL DICOM pixels, every image listed.

    Args:
        cfg: the loaded mmengine config (its model and test pipeline).
        checkpoint: a local checkpoint (full or ``*_weights.pth``).
        items: the images (:func:`cxrdet.io.sources.find_sources`).
        meta: the class list the model predicts (its labels are the detector classes of ``meta``).
        record: what training recorded (``png_size``, ``bit_depth``), used for DICOMs.
        opts: inference options.

    Raises:
        InputError: no checkpoint file. ConfigError: DICOMs without a known PNG size, a bad pipeline.
    """
    start = time.perf_counter()
    png_size = opts.png_size or record.get("png_size")
    bit_depth = opts.bit_depth or record.get("bit_depth") or 8
    if png_size is None and any(i.kind == "dicom" for i in items):
        raise ConfigError(
            f"{checkpoint}: the PNG size it was trained on is not recorded (not trained by cxrdet train?); "
            "pass --png-size (the --size of cxrdet convert) to predict on DICOMs"
        )
    model = build_model(
        cfg, checkpoint, torch_device(opts.device), opts.conf, opts.iou, opts.max_det, len(meta.finding_classes)
    )
    load_cfg, pipeline, imgsz = test_pipeline(cfg, opts.imgsz)
    reader = Reader(load_cfg, str(cfg.get("default_scope") or "mmdet"), int(png_size or 0), int(bit_depth))
    workers = default_workers() if opts.workers is None else max(0, int(opts.workers))
    batches = _chunks(read_all(reader, list(items), workers, opts.timeout), max(1, int(opts.batch)))
    class_ids = detector_class_ids(meta)
    plain, flipped, failures, sizes = _run(model, pipeline, batches, class_ids, opts, len(items))
    frame = pd.DataFrame.from_dict(sizes, orient="index", columns=["height", "width"], dtype=np.float64)
    frame.index.name = "image_id"
    table = BoxTable.from_detections(plain, frame, source="predict")
    if opts.tta and opts.tta_merge == "wbf" and len(plain):
        from cxrdet.ensemble.tta import merge_tta

        mirrored = BoxTable.from_detections(flipped, frame, source="predict-hflip")
        table = merge_tta(
            table, mirrored, "h", iou_thr=opts.tta_iou, skip_box_thr=opts.tta_skip_box_thr, sizes=frame, meta=meta
        )
    for image_id, reason in failures.items():
        log.warning("%s: not predicted: %s", image_id, reason)
    settings = {"imgsz": imgsz, "png_size": png_size, "bit_depth": bit_depth, "tta_merge": opts.tta_merge}
    return PredictResult(
        table.subset([i.image_id for i in items]), failures, time.perf_counter() - start, settings, meta
    )
