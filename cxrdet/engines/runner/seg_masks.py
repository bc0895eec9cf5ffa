"""Runner engine for custom models, segmentation output: predicted masks in each file's geometry, as label PNGs.

A segmentation model predicts class scores over its input (``pred_mask_score``, ``C x h x w``). Each class's score
map goes back through the test pipeline's geometry (:class:`~cxrdet.engines.runner.traced_pipeline.Geometry`:
undo the CenterCrop, then the Resize, bilinear) and the mask is the per-pixel argmax there, so its edges are as
smooth as the scores (not the blocks of a nearest upscale); pixels the crop cut away have no score and are
background (class 0). ``cxrdet predict`` writes the masks as 8-bit label PNGs (the class index per pixel, the
layout the segmentation data sets read), one per image, with atomic writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cxrdet.engines.runner.traced_pipeline import Geometry
from cxrdet.errors import InputError

MASK_COLUMN = "_mask"
"""Row key of the in-memory file-geometry mask (``uint8 H x W``); ``cxrdet predict`` writes it and drops it."""


def mask_in_file(scores, geometry: Geometry) -> np.ndarray:
    """Class scores over the model input (``C x h x w``, numpy or torch) -> ``uint8`` label mask of the file's size."""
    if hasattr(scores, "detach"):
        scores = scores.detach().float().cpu().numpy()
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 3 or scores.shape[0] > 256:
        raise ValueError(f"mask scores must be C x h x w with C <= 256, got shape {scores.shape}")
    per_class = np.stack([geometry.to_file(channel) for channel in scores])
    return per_class.argmax(axis=0).astype(np.uint8)


def masks_folder(out: str | Path) -> Path:
    """Where ``cxrdet predict -o OUT.csv`` writes the masks: ``OUT_masks/`` beside the rows file."""
    out = Path(out)
    return out.with_name(f"{out.stem}_masks")


def write_masks(folder: str | Path, masks: Mapping[str, np.ndarray], overwrite: bool = False) -> list[Path]:
    """Writes ``<folder>/<image_id>.png`` per mask (8-bit label PNG), atomically.

    Raises:
        InputError: the folder has PNGs already and ``overwrite`` is False (with it, those PNGs are removed first).
    """
    from cxrdet.io.overlays import write_png_atomic

    folder = Path(folder)
    old = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if old and not overwrite:
        raise InputError(folder, "holds masks already; choose another --out or pass --overwrite")
    for path in old:
        path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for image_id, mask in masks.items():
        path = folder / f"{image_id}.png"
        write_png_atomic(path, np.ascontiguousarray(mask, dtype=np.uint8))
        written.append(path)
    return written
