"""Synthetic gastric endoscopy example: RGB images, lesion masks and image labels (``--task gastric``).

First step of the gastric pipeline (GAIN classification, CA-U-Net segmentation): it writes what
``SegmentationDataset`` and ``MaskedClassDataset`` read, so that both models can be trained and tested without the
seed's endoscopy images. Each image is a view of the stomach wall: pink-red mucosa with a fine granular texture,
curved rugal folds, a dark vignette towards a rounded field of view (black corners, as endoscopes crop), and a few
white specular highlights. Normal views also have faint smooth reddish patches (erythema), so that "redder" alone
does not mean cancer. An early gastric cancer (EGC) view has one lesion: an irregular blob (radial harmonics) of
5-30% of the image, either a pale yellow-white elevated patch or a dark red depressed one, with a coarser irregular
texture and a thin rim; highlights may fall on it. The lesion differs from the mucosa in colour and in grey
level (dark or bright), so a grey-loading pipeline can learn it too.

Layout::

    OUT/images/<image_id>.png   8-bit RGB (stored B, G, R by OpenCV), size x size
    OUT/masks/<image_id>.png    8-bit label map: 0 background, 1 lesion (a normal view's mask is all 0)
    OUT/labels.csv              image_id,label   (label: 'normal' or 'egc')

Image ids (``G0000``...) are dealt in a seeded order across the classes, so the id does not tell the class. A
tiny U-Net (base width 8) segments the lesions at 64-128 px after a few epochs. The output is byte-for-byte
deterministic for a seed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from cxrdet.errors import ConfigError
from cxrdet.example.out_dir import prepare_out_dir
from cxrdet.io.atomic import write_csv
from cxrdet.io.overlays import write_png_atomic

log = logging.getLogger(__name__)

LABELS_CSV = "labels.csv"
IMAGE_DIR, MASK_DIR = "images", "masks"
CLASSES = ("normal", "egc")
"""Image classes in index order: normal = 0, egc = 1."""
MASK_CLASSES = ("background", "lesion")
"""Mask values in index order: 0 background, 1 lesion."""
DEFAULT_N, DEFAULT_SIZE = 64, 128
LESION_FRACTION = (0.05, 0.30)
"""Range of a lesion's share of the image area."""

_MUCOSA = np.array([0.80, 0.42, 0.38], np.float32)  # R, G, B
_PALE = np.array([0.93, 0.80, 0.62], np.float32)  # elevated, whitish-yellow lesion
_DARK = np.array([0.55, 0.16, 0.18], np.float32)  # depressed, dark red lesion
_ERYTHEMA = np.array([0.86, 0.33, 0.31], np.float32)


@dataclass
class GastricExampleSummary:
    """What :func:`make_gastric_example` wrote."""

    out_dir: Path
    labels: dict[str, str]  # image id -> 'normal' | 'egc'
    lesion_fraction: dict[str, float]  # image id -> share of the image the mask marks (0 for normal views)
    size: int
    seconds: float = field(default=0.0, compare=False)


def _noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-blurred white noise scaled to unit standard deviation."""
    white = rng.standard_normal(shape).astype(np.float32)
    smooth = cv2.GaussianBlur(white, (0, 0), max(sigma, 0.5))
    return smooth / max(float(smooth.std()), 1e-6)


def _field_of_view(size: int) -> np.ndarray:
    """1 inside the endoscope's rounded-square field of view, 0 in the black corners (soft 1-px edge)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    u, v = np.abs(xs / size - 0.5) * 2, np.abs(ys / size - 0.5) * 2  # 0 at the centre, 1 at the edges
    radius = (u**4 + v**4) ** 0.25  # a squircle
    return np.clip((1.0 - radius) * size / 2 + 0.5, 0.0, 1.0)


def _blob(size: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean irregular blob (radial harmonics 2..5) of roughly ``fraction`` of the image, inside the view."""
    r0 = np.sqrt(fraction / np.pi) * size
    margin = r0 * 1.1 + 0.06 * size
    cx, cy = rng.uniform(margin, size - margin, 2) if margin < size / 2 else (size / 2, size / 2)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    theta = np.arctan2(ys - cy, xs - cx)
    radius = np.full_like(theta, r0)
    for k in range(2, 6):
        radius = radius * (1.0 + rng.uniform(0.0, 0.22 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)))
    stretch = rng.uniform(0.75, 1.3)
    angle = rng.uniform(0, np.pi)
    c, s = np.cos(angle), np.sin(angle)
    du, dv = (xs - cx) * c + (ys - cy) * s, -(xs - cx) * s + (ys - cy) * c
    dist = np.hypot(du * np.sqrt(stretch), dv / np.sqrt(stretch))
    return dist < radius


def _lesion_mask(size: int, rng: np.random.Generator, view: np.ndarray) -> np.ndarray:
    """A blob whose area (inside the field of view) lies within :data:`LESION_FRACTION` of the image."""
    lo, hi = LESION_FRACTION
    for _ in range(50):
        mask = _blob(size, rng.uniform(lo + 0.01, hi - 0.03), rng) & (view > 0.5)
        if lo <= mask.mean() <= hi:
            return mask
    raise AssertionError("no lesion of the required size after 50 tries")  # pragma: no cover - never seen


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def render_view(size: int, lesion: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """One endoscopic view as float32 RGB ``size x size x 3`` in [0, 1]; ``lesion``: boolean mask or None."""
    view = _field_of_view(size)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    shape2 = (size, size)
    base = _MUCOSA * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    img = np.broadcast_to(base, (size, size, 3)).copy()
    # rugal folds: curved bright ridges with dark grooves
    angle = rng.uniform(0, np.pi)
    warp = 2.0 * _noise(shape2, size / 6, rng)
    phase = (xs * np.cos(angle) + ys * np.sin(angle)) * rng.uniform(3.0, 6.0) * 2 * np.pi + warp
    folds = np.sin(phase) * rng.uniform(0.05, 0.09)
    img *= (1.0 + folds)[..., None]
    # fine granular mucosa texture (areae gastricae)
    fine = _noise(shape2, max(0.6, size / 200), rng)
    img *= (1.0 + 0.035 * fine)[..., None]
    # faint smooth erythema, in both classes
    for _ in range(rng.integers(0, 3)):
        patch = _soft(_blob(size, rng.uniform(0.03, 0.12), rng), size / 25) * rng.uniform(0.25, 0.45)
        img = img * (1 - patch[..., None]) + _ERYTHEMA * patch[..., None]
    if lesion is not None:
        colour = _PALE if rng.random() < 0.5 else _DARK
        colour = colour * rng.uniform(0.94, 1.06, 3).astype(np.float32)
        coarse = _noise(shape2, max(0.8, size / 90), rng)
        tone = colour[None, None, :] * (1.0 + 0.12 * coarse)[..., None] * (1.0 + 0.5 * folds)[..., None]
        weight = _soft(lesion, max(0.5, size / 200))[..., None] * rng.uniform(0.85, 1.0)
        img = img * (1 - weight) + tone * weight
        rim = (_soft(lesion, size / 60) - _soft(lesion, size / 30)) > 0.08  # a thin raised rim outside the edge
        img[rim & ~lesion] *= 1.08
    # illumination: bright centre, dark vignette, slight global exposure change
    r2 = (xs - rng.uniform(0.4, 0.6)) ** 2 + (ys - rng.uniform(0.4, 0.6)) ** 2
    light = (1.0 - rng.uniform(0.35, 0.55) * r2 / 0.5) * rng.uniform(0.9, 1.1)
    img *= light[..., None]
    # specular highlights (both classes, sometimes on the lesion)
    for _ in range(rng.integers(2, 7)):
        cx, cy = rng.uniform(0.15, 0.85, 2)
        sx, sy = rng.uniform(0.004, 0.02, 2)
        spot = np.exp(-(((xs - cx) / sx) ** 2 + ((ys - cy) / sy) ** 2))
        img = img * (1 - spot[..., None]) + spot[..., None]
    img += 0.012 * rng.standard_normal(img.shape).astype(np.float32)
    return np.clip(img * view[..., None], 0.0, 1.0)


def make_gastric_example(
    out: str | PathLike,
    n: int = DEFAULT_N,
    seed: int = 0,
    size: int = DEFAULT_SIZE,
    overwrite: bool = False,
) -> GastricExampleSummary:
    """Write a synthetic normal/EGC endoscopy data set: images, lesion masks and ``labels.csv``.

    ``n // 2`` views are EGC (one lesion each), the others normal; ids ``G0000``... are dealt in a seeded order.

    Args:
        out: output folder; must be empty or absent unless ``overwrite``.
        n: number of images (>= 2: at least one of each class).
        seed: random seed of everything (classes, lesions, textures, noise).
        size: side of the square images in pixels (32..2048).
        overwrite: replace this writer's files in a non-empty ``out`` (other files are kept).

    Returns:
        A summary of what was written.

    Raises:
        ConfigError: a bad count or size, or a non-empty ``out`` without ``overwrite``.
    """
    start = time.perf_counter()
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError(f"the gastric example needs n >= 2 images (one of each class), got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= 2048:
        raise ConfigError(f"the gastric example's image size must be 32..2048 pixels, got {size!r}")
    out = Path(out)
    prepare_out_dir(out, overwrite, [f"{IMAGE_DIR}/*.png", f"{MASK_DIR}/*.png", LABELS_CSV])
    is_egc = np.zeros(n, bool)
    is_egc[np.random.default_rng([seed, 61]).permutation(n)[: n // 2]] = True
    view = _field_of_view(size)
    labels: dict[str, str] = {}
    fractions: dict[str, float] = {}
    for number in range(n):
        image_id = f"G{number:04d}"
        rng = np.random.default_rng([seed, 67, number])
        lesion = _lesion_mask(size, rng, view) if is_egc[number] else None
        rgb = render_view(size, lesion, rng)
        bgr = np.rint(rgb[..., ::-1] * 255).astype(np.uint8)
        mask = np.zeros((size, size), np.uint8) if lesion is None else lesion.astype(np.uint8)
        write_png_atomic(out / IMAGE_DIR / f"{image_id}.png", bgr)
        write_png_atomic(out / MASK_DIR / f"{image_id}.png", mask)
        labels[image_id] = CLASSES[int(is_egc[number])]
        fractions[image_id] = float(mask.mean())
    write_csv(out / LABELS_CSV, pd.DataFrame({"image_id": list(labels), "label": list(labels.values())}))
    summary = GastricExampleSummary(out, labels, fractions, size, seconds=time.perf_counter() - start)
    log.info(
        "wrote %d normal + %d EGC endoscopy views with masks (%d px) to %s in %.1f s",
        n - int(is_egc.sum()),
        int(is_egc.sum()),
        size,
        out,
        summary.seconds,
    )
    return summary
