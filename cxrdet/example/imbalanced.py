"""Synthetic imbalanced chest X-ray example for the feature GAN (``cxrdet make-example --task imbalanced``).

First step of the feature-GAN pipeline: it writes what ``ImageCsvDataset`` reads (CheXpert-style CSVs of paths and
labels), so that the extractor (step 1) and the GAN (step 2) can be trained and compared without CheXpert. Six
classes of the write-up; three are majority classes with ``n_per_class_major`` training images each and three are
minority classes with ``ratio`` times fewer (10:1 by default) in ``train.csv``; ``test.csv`` is a balanced held-out
set (``n_test_per_class`` of every class).

Each image is a frontal chest phantom (body, two dark lung fields, a bright heart, soft texture and noise). The
classes come in three pairs, each pair a finding whose severity ``s`` decides the class, majority class
``s ~ U(0, 0.6)``, minority class ``s ~ U(0.4, 1)``: the classes overlap in ``0.4 <= s <= 0.6``, where a classifier
trained on the 10:1 set prefers the majority class (it under-learns the minority ones), while a classifier that
weighs the classes equally splits the overlap at 0.5 (so the minority classes are learnable)::

    No Finding (major)        / Cardiomegaly (minor)   heart half-width 0.09 + 0.10 s of the side
    Pleural Effusion (major)  / Atelectasis (minor)    bright fluid at both lung bases, 8 + 30 s % of the lung height
    Edema (major)             / Consolidation (minor)  patchy haze over both lungs, contrast 0.06 + 0.22 s

The non-cardiac classes have a No-Finding heart. Layout::

    OUT/images/<image_id>.png   8-bit grey, size x size
    OUT/train.csv               Path,label,severity  (10:1 imbalance)
    OUT/test.csv                Path,label,severity  (balanced)

The output is byte-for-byte deterministic for a seed.
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

MAJORITY = ("No Finding", "Pleural Effusion", "Edema")
MINORITY = ("Cardiomegaly", "Atelectasis", "Consolidation")
"""Pairs by position: MAJORITY[k] and MINORITY[k] share finding k (heart, basal fluid, haze)."""
CLASSES = tuple(sorted(MAJORITY + MINORITY))
DEFAULT_N_MAJOR, DEFAULT_RATIO, DEFAULT_N_TEST, DEFAULT_SIZE = 60, 10, 20, 160
MAJOR_RANGE, MINOR_RANGE = (0.0, 0.6), (0.4, 1.0)
TRAIN_CSV, TEST_CSV = "train.csv", "test.csv"


@dataclass
class ImbalancedExampleSummary:
    """What :func:`make_imbalanced_example` wrote."""

    out_dir: Path
    classes: tuple[str, ...]
    train_counts: dict[str, int]
    test_counts: dict[str, int]
    majority: tuple[str, ...]
    minority: tuple[str, ...]
    size: int
    seconds: float = field(default=0.0, compare=False)


def _ellipse(xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """Soft ellipse mask (1 inside, a ramp of about one pixel at the border); ``xs``/``ys`` in pixels / side."""
    r = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
    return np.clip((1.0 - r) * min(rx, ry) * xs.shape[1] + 0.5, 0.0, 1.0)


def render_chest(finding: int, severity: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """One chest phantom with finding ``finding`` (0 heart, 1 basal fluid, 2 haze) of ``severity`` in [0, 1]."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    xs, ys = xs / size, ys / size
    jitter = rng.uniform(-0.02, 0.02, 2)
    body = _ellipse(xs, ys, 0.5 + jitter[0], 0.52 + jitter[1], 0.46, 0.55)
    img = 0.08 + 0.47 * body
    lungs = np.zeros_like(xs)
    lung_top, lung_h = 0.22 + jitter[1], 0.58
    for side in (-1, 1):
        cx = 0.5 + side * rng.uniform(0.17, 0.19) + jitter[0]
        lungs = np.maximum(lungs, _ellipse(xs, ys, cx, lung_top + lung_h / 2, 0.13, lung_h / 2))
    img = img - 0.28 * lungs
    heart_w = 0.09 + 0.10 * (severity if finding == 0 else rng.uniform(*MAJOR_RANGE))
    heart = _ellipse(xs, ys, 0.5 + jitter[0] + 0.02, 0.62 + jitter[1], heart_w, 0.13)
    img = np.maximum(img, heart * 0.6)
    white = rng.standard_normal((size, size)).astype(np.float32)
    if finding == 1:  # fluid filling both lung bases up to a (slightly tilted) level
        level = lung_top + lung_h * (1.0 - (0.08 + 0.30 * severity)) + (xs - 0.5) * rng.uniform(-0.05, 0.05)
        fluid = np.clip((ys - level) * size * 0.5, 0.0, 1.0) * lungs
        img = img + 0.26 * fluid * (1.0 - heart)
    elif finding == 2:  # blotchy haze over both lungs
        blotch = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), size / 24)
        blotch = np.clip(0.5 + blotch / (3 * blotch.std() + 1e-6), 0.0, 1.0)
        img = img + (0.06 + 0.22 * severity) * blotch * lungs * (1.0 - heart)
    texture = cv2.GaussianBlur(white, (0, 0), max(0.8, size / 120))
    img = img + 0.025 * texture + 0.015 * rng.standard_normal((size, size)).astype(np.float32)
    img = img * rng.uniform(0.92, 1.08) + rng.uniform(-0.03, 0.03)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def _check(n_major: int, ratio: int, n_test: int, size: int) -> None:
    if n_major < 1 or ratio < 1 or n_test < 1:
        raise ConfigError(
            f"the imbalanced example needs n_per_class_major >= 1, ratio >= 1, n_test_per_class >= 1 "
            f"(got {n_major}, {ratio}, {n_test})"
        )
    if n_major // ratio < 1:
        raise ConfigError(f"n_per_class_major={n_major} // ratio={ratio} leaves the minority classes no image")
    if not 32 <= size <= 1024:
        raise ConfigError(f"the imbalanced example's image size must be 32..1024 pixels, got {size}")


def _write_set(out: Path, prefix: str, counts: dict[str, int], size: int, seed: int) -> pd.DataFrame:
    rows = []
    for name, n in counts.items():
        minority = name in MINORITY
        finding = (MINORITY if minority else MAJORITY).index(name)
        low, high = MINOR_RANGE if minority else MAJOR_RANGE
        k = CLASSES.index(name)
        for j in range(n):
            rng = np.random.default_rng([seed, 61, 0 if prefix == "train" else 1, k, j])
            severity = float(rng.uniform(low, high))
            image_id = f"{prefix}_{k}_{j:04d}"
            write_png_atomic(out / "images" / f"{image_id}.png", render_chest(finding, severity, size, rng))
            rows.append({"Path": f"images/{image_id}.png", "label": name, "severity": round(severity, 4)})
    order = np.random.default_rng([seed, 67, 0 if prefix == "train" else 1]).permutation(len(rows))
    return pd.DataFrame([rows[i] for i in order])


def make_imbalanced_example(
    out: str | PathLike,
    n_per_class_major: int = DEFAULT_N_MAJOR,
    ratio: int = DEFAULT_RATIO,
    n_test_per_class: int = DEFAULT_N_TEST,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    overwrite: bool = False,
) -> ImbalancedExampleSummary:
    """Write the six-class imbalanced chest example (``train.csv`` 10:1, balanced ``test.csv``, ``images/``).

    Args:
        out: output folder; must be empty or absent unless ``overwrite``.
        n_per_class_major: training images of each majority class.
        ratio: majority / minority image count in ``train.csv`` (minority: ``n_per_class_major // ratio``).
        n_test_per_class: images of every class in ``test.csv``.
        size: side of the square images in pixels (32..1024; 160 is the write-up's input).
        seed: random seed of everything.
        overwrite: replace this writer's files in a non-empty ``out`` (other files are kept).

    Returns:
        A summary of what was written.

    Raises:
        ConfigError: bad counts or size, or a non-empty ``out`` without ``overwrite``.
    """
    start = time.perf_counter()
    _check(int(n_per_class_major), int(ratio), int(n_test_per_class), int(size))
    out = Path(out)
    prepare_out_dir(out, overwrite, ["images/*.png", TRAIN_CSV, TEST_CSV])
    n_minor = int(n_per_class_major) // int(ratio)
    train_counts = {c: (n_minor if c in MINORITY else int(n_per_class_major)) for c in CLASSES}
    test_counts = {c: int(n_test_per_class) for c in CLASSES}
    write_csv(out / TRAIN_CSV, _write_set(out, "train", train_counts, int(size), seed))
    write_csv(out / TEST_CSV, _write_set(out, "test", test_counts, int(size), seed))
    summary = ImbalancedExampleSummary(
        out, CLASSES, train_counts, test_counts, MAJORITY, MINORITY, int(size), seconds=time.perf_counter() - start
    )
    log.info(
        "wrote %d training images (%d per majority class, %d per minority class) and %d balanced test images "
        "(%d px) to %s in %.1f s",
        sum(train_counts.values()),
        int(n_per_class_major),
        n_minor,
        sum(test_counts.values()),
        int(size),
        out,
        summary.seconds,
    )
    return summary
