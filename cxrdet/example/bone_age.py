"""Synthetic bone age example data in the RSNA layout (``cxrdet make-example --task bone-age``).

First step of the bone age pipeline: it writes what ``BoneAgeDataset`` reads, so that TJ-Net can be trained and
tested without the (non-redistributable) RSNA images. Each image is a phantom of a left hand (PA view): forearm,
carpal ossification centres, five finger rays of metacarpals and phalanges, soft tissue. With the age in months
the bones grow longer and relatively wider and denser, the epiphyses ossify and grow, the carpal centres appear one
by one, and the growth plates (dark gaps between epiphysis and shaft) narrow and fuse in adolescence; girls mature
earlier (their skeleton looks 12% older) and boys' bones are wider (by 13%). Each hand also varies on its own
(size, finger lengths and angles) and in the exposure (rotation, scale, shift, contrast, noise).
Learnable at 64 px: TJ-Net at width 0.25 reached a MAD of 22 months (the mean-age predictor's: 56) and 75%
sex accuracy after 12 epochs of 160 images (96 px files, resized).

Layout (as RSNA's training set)::

    OUT/boneage-training-dataset.csv    id,boneage,male   (male True/False)
    OUT/boneage-training-dataset/<id>.png                 (8-bit grey)

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

CSV_NAME = "boneage-training-dataset.csv"
IMAGE_DIR = "boneage-training-dataset"
FIRST_ID = 1377  # the first id of RSNA's training CSV; ids count up from it
MIN_AGE, MAX_AGE = 6, 228  # months: the ages are spread uniformly over this range
GIRLS_AHEAD = 1.12  # a girl's skeleton looks like a boy's of 1.12 x her age
DEFAULT_N, DEFAULT_SIZE = 200, 128

# Canonical adult left hand, PA view, in fractions of the image (x right, y down); the thumb is on the image right.
# Finger ray: (base (x, y), angle from vertical in degrees (+ = toward the thumb), bone lengths, bone radii),
# bones from the carpometacarpal joint outward: metacarpal, proximal, (middle,) distal phalanx.
RAYS: tuple[tuple[tuple[float, float], float, tuple[float, ...], tuple[float, ...]], ...] = (
    ((0.575, 0.730), 8.0, (0.190, 0.115, 0.070, 0.050), (0.024, 0.020, 0.017, 0.013)),  # index
    ((0.500, 0.730), 0.0, (0.185, 0.125, 0.080, 0.055), (0.024, 0.021, 0.018, 0.014)),  # middle
    ((0.430, 0.735), -7.0, (0.170, 0.115, 0.075, 0.050), (0.022, 0.019, 0.016, 0.013)),  # ring
    ((0.365, 0.745), -15.0, (0.145, 0.090, 0.055, 0.045), (0.019, 0.017, 0.013, 0.012)),  # little
    ((0.610, 0.780), 42.0, (0.120, 0.090, 0.065), (0.025, 0.021, 0.017)),  # thumb
)
HAND_CENTRE = (0.50, 0.60)  # the hand is scaled about this point with age
# Carpal ossification centres: (x, y), adult radius, age of appearance in months (capitate first, pisiform last).
CARPALS: tuple[tuple[float, float, float, float], ...] = (
    (0.500, 0.775, 0.028, 2),  # capitate
    (0.435, 0.782, 0.024, 3),  # hamate
    (0.405, 0.825, 0.020, 30),  # triquetrum
    (0.475, 0.832, 0.021, 48),  # lunate
    (0.612, 0.792, 0.020, 60),  # trapezium
    (0.560, 0.772, 0.018, 66),  # trapezoid
    (0.552, 0.830, 0.023, 66),  # scaphoid
    (0.382, 0.800, 0.013, 120),  # pisiform
)
# Forearm bones from below the image up to the wrist: (bottom x, y), (top x, y), radius, epiphysis onset (months).
FOREARM: tuple[tuple[tuple[float, float], tuple[float, float], float, float], ...] = (
    ((0.565, 2.40), (0.565, 0.862), 0.045, 12),  # radius
    ((0.420, 2.40), (0.425, 0.872), 0.030, 72),  # ulna
)
BACKGROUND, TISSUE = 0.06, 0.32


@dataclass
class BoneAgeExampleSummary:
    """What :func:`make_bone_age_example` wrote."""

    out_dir: Path
    csv_path: Path
    image_dir: Path
    ids: list[int]
    ages: list[int]  # months
    males: list[bool]
    size: int
    seconds: float = field(default=0.0, compare=False)


@dataclass
class _Prim:
    """One shape in canonical coordinates: a capsule (segment a-b, radius r) or an ellipse (centre a, axis
    direction b (unit), half-axes r along, r2 across)."""

    kind: str  # "capsule" | "ellipse"
    a: np.ndarray
    b: np.ndarray
    r: float
    r2: float = 0.0
    level: float = 1.0


def _smoothstep(x: float, lo: float, hi: float) -> float:
    t = min(1.0, max(0.0, (x - lo) / (hi - lo)))
    return t * t * (3 - 2 * t)


def _bone(
    start: np.ndarray, direction: np.ndarray, length: float, r: float, epi_at: str, ossified: float, fused: float
) -> list[_Prim]:
    """A long bone along ``direction`` from ``start``: shaft, and its epiphysis at the ``"start"`` or ``"end"``
    separated by the growth plate (a gap that closes as ``fused`` goes 0 -> 1); ``ossified`` (0..1) is how far
    the epiphysis has ossified (0: not visible yet)."""
    e_full = 0.7 * r  # epiphysis thickness along the bone when fully grown
    gap = 0.6 * r * (1.0 - fused)
    cut = e_full * (1.0 - 0.5 * fused) + gap  # shaft starts this far from the epiphysis end (overlaps when fused)
    if epi_at == "start":
        epi_c, s0, s1 = e_full / 2, cut, length
    else:
        epi_c, s0, s1 = length - e_full / 2, 0.0, length - cut
    prims = [_Prim("capsule", start + direction * (s0 + r), start + direction * max(s0 + r, s1 - r), r)]
    if ossified > 0:
        prims.append(
            _Prim(
                "ellipse",
                start + direction * epi_c,
                direction,
                e_full / 2 * (0.45 + 0.55 * ossified),
                r * (0.35 + 0.75 * ossified),
            )
        )
    return prims


def _hand(age_eff: float, male: bool, rng: np.random.Generator) -> tuple[list[_Prim], list[_Prim], float]:
    """Soft-tissue and bone shapes of one hand in canonical coordinates, and the age-scale factor of its size."""
    t = min(1.0, age_eff / MAX_AGE)  # skeletal maturity 0..1
    grow = 0.6 + 0.4 * t  # hand size relative to an adult's
    width = (0.5 + 0.5 * t) / grow * (1.06 if male else 0.94)  # bone radius factor (before the size scale)
    fused = _smoothstep(age_eff, 165, 210)
    tissue: list[_Prim] = [
        _Prim("ellipse", np.array([0.48, 0.67]), np.array([0.0, 1.0]), 0.12, 0.19),  # palm
        _Prim("capsule", np.array([0.49, 0.80]), np.array([0.49, 2.50]), 0.14),  # wrist and forearm
    ]
    bones: list[_Prim] = []
    for k, (base, angle, lengths, radii) in enumerate(RAYS):
        theta = np.deg2rad(angle + rng.normal(0, 2.5))
        d = np.array([np.sin(theta), -np.cos(theta)])
        p = np.array(base) + rng.normal(0, 0.004, 2)
        ray_len = rng.normal(1.0, 0.035)
        joint = 0.010 + 0.008 * (1 - t)  # joint space (cartilage is thicker in young children)
        tip = p
        for j, (length, radius) in enumerate(zip(lengths, radii)):
            length *= ray_len * rng.normal(1.0, 0.02)
            r = radius * width
            is_meta = j == 0
            epi_at = "end" if is_meta and k < 4 else "start"  # metacarpals 2-5: distal epiphysis; else proximal
            onset = (20 if is_meta else 12 + 6 * j) + (10 if k == 4 else 0)
            ossified = min(1.0, max(0.0, (age_eff - onset) / 48))
            bones += _bone(p, d, length, r, epi_at, ossified, fused)
            tip = p + d * length
            p = tip + d * joint
        tissue.append(_Prim("capsule", np.array(base) + d * 0.05, tip - d * 0.008, max(radii) * 1.1 * width + 0.008))
    for x, y, radius, onset in CARPALS:
        c, stretch = np.array([x, y]) + rng.normal(0, 0.003, 2), rng.uniform(0.9, 1.1)  # drawn for every hand
        if age_eff > onset:
            grown = min(1.0, (age_eff - onset) / 72)
            r = radius * (0.25 + 0.75 * grown) * (1.0 + 0.2 * (1 - grow))
            bones.append(_Prim("ellipse", c, np.array([0.0, 1.0]), r * stretch, r))
    for bottom, top, radius, onset in FOREARM:
        a, b = np.array(bottom), np.array(top)
        d = (b - a) / np.linalg.norm(b - a)
        ossified = min(1.0, max(0.0, (age_eff - onset) / 48))
        bones += _bone(a, d, float(np.linalg.norm(b - a)), radius * width, "end", ossified, fused)
    level = (0.62 + 0.2 * t) * rng.uniform(0.97, 1.03)  # bone density grows with age
    for prim in bones:
        prim.level = level
    return tissue, bones, grow


def _raster(prim: _Prim, size: int, canvas: np.ndarray) -> None:
    """Draw ``prim`` (already in image fractions) onto ``canvas`` as max(canvas, level x anti-aliased mask)."""
    extent = max(prim.r, prim.r2) + 2.0 / size
    if prim.kind == "capsule":
        lo, hi = np.minimum(prim.a, prim.b) - extent, np.maximum(prim.a, prim.b) + extent
    else:
        lo, hi = prim.a - extent, prim.a + extent
    x0, y0 = max(0, int(lo[0] * size)), max(0, int(lo[1] * size))
    x1, y1 = min(size, int(np.ceil(hi[0] * size)) + 1), min(size, int(np.ceil(hi[1] * size)) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    xs = ((np.arange(x0, x1) + 0.5) / size)[None, :]
    ys = ((np.arange(y0, y1) + 0.5) / size)[:, None]
    if prim.kind == "capsule":
        ab = prim.b - prim.a
        denom = float(ab @ ab) or 1.0
        s = np.clip(((xs - prim.a[0]) * ab[0] + (ys - prim.a[1]) * ab[1]) / denom, 0.0, 1.0)
        sdf = np.hypot(xs - prim.a[0] - s * ab[0], ys - prim.a[1] - s * ab[1]) - prim.r
    else:
        u = (xs - prim.a[0]) * prim.b[0] + (ys - prim.a[1]) * prim.b[1]
        v = -(xs - prim.a[0]) * prim.b[1] + (ys - prim.a[1]) * prim.b[0]
        sdf = (np.sqrt((u / prim.r) ** 2 + (v / prim.r2) ** 2) - 1.0) * min(prim.r, prim.r2)
    mask = np.clip(0.5 - sdf * size, 0.0, 1.0)
    np.maximum(canvas[y0:y1, x0:x1], prim.level * mask, out=canvas[y0:y1, x0:x1])


def render_hand(age_months: float, male: bool, size: int, rng: np.random.Generator) -> np.ndarray:
    """One hand phantom as an 8-bit grey image.

    Args:
        age_months: chronological age in months.
        male: the sex (girls' skeletons look older: :data:`GIRLS_AHEAD`).
        size: side of the square image in pixels.
        rng: the image's random generator (hand variation, pose, exposure, noise).

    Returns:
        ``uint8`` array ``(size, size)``.
    """
    age_eff = age_months * (1.0 if male else GIRLS_AHEAD)
    # every draw below is the same for any age and sex: two renders with equal seeds differ by age and sex only
    tissue, bones, grow = _hand(age_eff, male, rng)
    scale = grow * rng.normal(1.0, 0.035) * rng.uniform(0.93, 1.05)  # the person's size, then the framing
    angle = np.deg2rad(rng.uniform(-10, 10))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([0.5, 0.53]) + rng.uniform(-0.04, 0.04, 2)
    hc = np.array(HAND_CENTRE)

    def place(p: np.ndarray) -> np.ndarray:
        return centre + scale * (rot @ (p - hc))

    canvas = np.full((size, size), BACKGROUND, np.float32)
    for prim in tissue:
        prim.level = TISSUE
    for prim in tissue + bones:
        if prim.kind == "capsule":
            placed = _Prim("capsule", place(prim.a), place(prim.b), prim.r * scale, level=prim.level)
        else:
            placed = _Prim("ellipse", place(prim.a), rot @ prim.b, prim.r * scale, prim.r2 * scale, prim.level)
        _raster(placed, size, canvas)
    white = rng.standard_normal((size, size)).astype(np.float32)
    noise = 0.015 * white + 0.03 * cv2.GaussianBlur(white, (0, 0), max(1.0, size / 64))
    ramp = rng.uniform(-0.04, 0.04) * (np.arange(size, dtype=np.float32) / size - 0.5)[:, None]  # heel effect
    img = (canvas + noise + ramp) * rng.uniform(0.9, 1.1) + rng.uniform(-0.03, 0.03)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def make_bone_age_example(
    out: str | PathLike, n: int = DEFAULT_N, seed: int = 0, size: int = DEFAULT_SIZE, overwrite: bool = False
) -> BoneAgeExampleSummary:
    """Write a synthetic bone age data set in the RSNA training layout.

    Ages (whole months) are spread uniformly over [:data:`MIN_AGE`, :data:`MAX_AGE`] (stratified: one age in
    each of ``n`` equal slices, shuffled); half the hands are boys' (``n`` odd: one more boy).

    Args:
        out: output folder; must be empty or absent unless ``overwrite``.
        n: number of images (>= 1).
        seed: random seed of everything (ages, sexes, hands, exposures).
        size: side of the square images in pixels (32..2048).
        overwrite: replace this writer's files in a non-empty ``out`` (other files are kept).

    Returns:
        A summary of what was written.

    Raises:
        ConfigError: a bad ``n`` or ``size``, or a non-empty ``out`` without ``overwrite``.
    """
    start = time.perf_counter()
    if n < 1:
        raise ConfigError(f"the bone age example needs n >= 1 images, got {n}")
    if not 32 <= size <= 2048:
        raise ConfigError(f"the bone age example's image size must be 32..2048 pixels, got {size}")
    out = Path(out)
    prepare_out_dir(out, overwrite, [f"{IMAGE_DIR}/*.png", CSV_NAME])
    rng = np.random.default_rng([seed, 31])
    slices = rng.permutation(n) + rng.random(n)
    ages = [int(a) for a in np.rint(MIN_AGE + (MAX_AGE - MIN_AGE) * slices / n)]
    males = [bool(m) for m in rng.permutation(np.arange(n) % 2 == 0)]
    ids = [FIRST_ID + i for i in range(n)]
    for i, (image_id, age, male) in enumerate(zip(ids, ages, males)):
        image = render_hand(age, male, size, np.random.default_rng([seed, 37, i]))
        write_png_atomic(out / IMAGE_DIR / f"{image_id}.png", image)
    write_csv(out / CSV_NAME, pd.DataFrame({"id": ids, "boneage": ages, "male": males}))
    summary = BoneAgeExampleSummary(
        out, out / CSV_NAME, out / IMAGE_DIR, ids, ages, males, size, seconds=time.perf_counter() - start
    )
    log.info("wrote %d hand images (%d px, %d boys) to %s in %.1f s", n, size, sum(males), out, summary.seconds)
    return summary
