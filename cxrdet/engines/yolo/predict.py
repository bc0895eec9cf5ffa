"""YOLO engine, inference: a trained YOLO checkpoint over DICOMs or PNGs -> a BoxTable in ORIGINAL DICOM pixels.

Decoding runs in crash-isolated worker processes while the model runs (the DICOM decode hides behind
inference; an image whose decoder aborts, panics or hangs is listed as a failure, without boxes); the model,
NMS and letterbox are Ultralytics' own (``AutoBackend``, ``non_max_suppression``,
letterbox mirrored in :mod:`cxrdet.engines.yolo.letterbox`). ``tta`` adds the horizontal flip, merged with WBF
by :func:`cxrdet.ensemble.tta.merge_tta`. Every image is listed in the result, with or without boxes.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrdet.engines.base import PredictResult
from cxrdet.engines.no_finding import append_no_finding  # noqa: F401 - re-exported
from cxrdet.engines.yolo.checkpoints import CXRDET_KEY, detector_names, record_meta
from cxrdet.engines.yolo.frames import Prepared
from cxrdet.engines.yolo.letterbox import Letterbox
from cxrdet.errors import ConfigError, InputError
from cxrdet.io.sources import SourceImage
from cxrdet.structures import VINDR, BoxTable, DatasetMeta, Detections

log = logging.getLogger(__name__)


@dataclass
class PredictOptions:
    """Options of :func:`predict` (the flags of ``cxrdet predict``); None = taken from the checkpoint."""

    imgsz: int | None = None
    png_size: int | None = None
    bit_depth: int | None = None
    conf: float = 0.001
    iou: float = 0.7
    max_det: int = 300
    tta: bool = False
    tta_iou: float = 0.4
    tta_skip_box_thr: float = 0.0
    batch: int = 4
    workers: int | None = None  # decoding processes; None: cores - 1 (the model keeps one), 1 to 4; 0: in-process
    timeout: float | None = 300.0  # seconds one image may take to decode before its worker is stopped
    device: str | None = None
    half: bool = False
    progress: bool = True


def boxes_to_original(boxes, letterbox: Letterbox, resize) -> np.ndarray:
    """xyxy boxes on the model's input canvas -> ORIGINAL DICOM pixels (letterbox inverse, then PNG -> DICOM)."""
    return resize.boxes_to_original(letterbox.boxes_to_source(boxes))


def detections_for(
    items: list[Prepared], outputs: list[np.ndarray], canvas_width: int | None = None, flipped: bool = False
) -> list[Detections]:
    """Per image ``(N, 6)`` outputs ``x1 y1 x2 y2 score class`` on the canvas -> :class:`Detections` in DICOM pixels.

    Args:
        items: the batch's readable images, in batch order.
        outputs: one array per image.
        canvas_width: the batch canvas width (needed when ``flipped``).
        flipped: the batch was mirrored as a whole: boxes come out in the mirrored image's DICOM frame.
    """
    out = []
    for item, det in zip(items, outputs):
        det = np.asarray(det, dtype=np.float64).reshape(-1, 6)
        letterbox = item.letterbox.hflipped(canvas_width) if flipped else item.letterbox
        out.append(
            Detections(
                item.image_id,
                boxes_to_original(det[:, :4], letterbox, item.resize),
                det[:, 4],
                det[:, 5].astype(np.int64),
            )
        )
    return out


def _settings(weights: Path, ckpt: dict, opts: PredictOptions, items: list[SourceImage]) -> dict:
    info, train_args = dict(ckpt.get(CXRDET_KEY) or {}), dict(ckpt.get("train_args") or {})
    settings = {
        "imgsz": opts.imgsz or info.get("imgsz") or train_args.get("imgsz"),
        "png_size": opts.png_size or info.get("png_size"),
        "bit_depth": opts.bit_depth or info.get("bit_depth") or 8,
    }
    if not isinstance(settings["imgsz"], int):
        raise ConfigError(f"{weights}: no training image size recorded; pass --imgsz")
    if settings["png_size"] is None and any(i.kind == "dicom" for i in items):
        raise ConfigError(
            f"{weights}: the PNG size it was trained on is not recorded (not trained by cxrdet "
            "train?); pass --png-size (the --size of cxrdet convert) to predict on DICOMs"
        )
    return settings


def _check_classes(weights: Path, names: dict[int, str], meta: DatasetMeta = VINDR) -> None:
    """The model's classes must be the detector classes of its checkpoint's class list ``meta`` (VinDr: the
    finding classes, ids 0-13), so its class ids are ids of ``meta``."""
    expected = detector_names(meta)
    what = "a VinDr detector" if meta == VINDR else "its recorded class list"
    if len(names) > len(expected):
        raise ConfigError(
            f"{weights}: a {len(names)}-class model; {what} predicts the "
            f"{len(expected)} detector classes (ids 0-{len(expected) - 1})"
        )
    other = [f"{i}: {n!r}" for i, n in names.items() if n != expected.get(i)]
    if other:
        log.warning(
            "%s: class names differ from %s (%s); ids are used as its class ids",
            weights,
            "VinDr's" if meta == VINDR else "the recorded class list's",
            ", ".join(other[:3]),
        )


def _nms(model, images, opts: PredictOptions) -> list[np.ndarray]:
    from ultralytics.utils import nms

    preds = model(images)
    out = nms.non_max_suppression(
        preds, opts.conf, opts.iou, None, False, max_det=opts.max_det, nc=0, end2end=getattr(model, "end2end", False)
    )
    return [x[:, :6].float().cpu().numpy() for x in out]


def default_workers() -> int:
    """Decoding processes beside the model: one core per process, one core left to the model; 1 to 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, max(1, cores - 1))


def _batches(items: list[SourceImage], settings: dict, stride: int, opts: PredictOptions):
    from cxrdet.engines.yolo.frames import InferenceImages, prepared_batches

    dataset = InferenceImages(items, settings["imgsz"], stride, settings["png_size"] or 0, settings["bit_depth"])
    workers = default_workers() if opts.workers is None else max(0, int(opts.workers))
    return prepared_batches(dataset, max(1, opts.batch), workers, timeout=opts.timeout)


def _run(model, batches, opts: PredictOptions, total: int) -> tuple[list, list, dict, dict]:
    import torch
    from tqdm import tqdm

    plain, flipped, failures, sizes = [], [], {}, {}
    channels = int(getattr(model, "channels", 3) or 3)
    bar = tqdm(total=total, desc="predict", unit="img", disable=not opts.progress or None)
    with torch.inference_mode():
        for batch, items in batches:
            ok = [p for p in items if p.error is None]
            failures.update({p.image_id: p.error for p in items if p.error is not None})
            sizes.update({p.image_id: (p.resize.original_height, p.resize.original_width) for p in ok})
            if ok:
                x = torch.from_numpy(batch).to(model.device)[:, None].expand(-1, channels, -1, -1)
                x = (x.half() if model.fp16 else x.float()).div_(255)
                plain += detections_for(ok, _nms(model, x, opts))
                if opts.tta:
                    flipped += detections_for(ok, _nms(model, x.flip(3), opts), x.shape[3], flipped=True)
            bar.update(len(items))
    bar.close()
    return plain, flipped, failures, sizes


def predict(weights: str | Path, items: list[SourceImage], opts: PredictOptions | None = None) -> PredictResult:
    """Runs a YOLO checkpoint over images; boxes come back in ORIGINAL DICOM pixels.

    Args:
        weights: a local ``.pt`` (never downloaded).
        items: the images (see :func:`cxrdet.io.sources.find_sources`).
        opts: inference options.

    Returns:
        The table (every image listed; sizes = original height/width), failures, time, settings used and
        the class list the checkpoint records (VinDr when it records none).

    Raises:
        InputError: missing weights file. ConfigError: sizes that cannot be determined.
    """
    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    opts = opts or PredictOptions()
    weights = Path(weights)
    if not weights.is_file():
        raise InputError(weights, "weights file not found (cxrdet never downloads weights)")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cxrdet-ultralytics-") as tmp, ultralytics_sandbox(tmp):
        from ultralytics.nn.autobackend import AutoBackend
        from ultralytics.nn.tasks import load_checkpoint
        from ultralytics.utils.torch_utils import select_device

        module, ckpt = load_checkpoint(str(weights))  # read once: the model and cxrdet's record
        settings = _settings(weights, ckpt, opts, items)
        meta = record_meta(ckpt.get(CXRDET_KEY), weights)
        model = AutoBackend(
            module, device=select_device(opts.device or "", verbose=False), fp16=opts.half, fuse=True, verbose=False
        )
        model.eval()
        _check_classes(weights, dict(model.names), meta)
        batches = _batches(items, settings, model.stride, opts)
        plain, flipped, failures, sizes = _run(model, batches, opts, len(items))
    table = _assemble(items, plain, flipped, sizes, opts)
    for image_id, reason in failures.items():
        log.warning("%s: not predicted: %s", image_id, reason)
    return PredictResult(table, failures, time.perf_counter() - start, settings, meta)


def _assemble(
    items: list[SourceImage],
    plain: list[Detections],
    flipped: list[Detections],
    sizes: dict[str, tuple[int, int]],
    opts: PredictOptions,
) -> BoxTable:
    frame = pd.DataFrame.from_dict(sizes, orient="index", columns=["height", "width"], dtype=np.float64)
    frame.index.name = "image_id"
    table = BoxTable.from_detections(plain, frame, source="predict")
    if opts.tta and len(plain):
        from cxrdet.ensemble.tta import merge_tta

        table = merge_tta(
            table,
            BoxTable.from_detections(flipped, frame, source="predict-hflip"),
            "h",
            iou_thr=opts.tta_iou,
            skip_box_thr=opts.tta_skip_box_thr,
            sizes=frame,
        )
    return table.subset([i.image_id for i in items])
