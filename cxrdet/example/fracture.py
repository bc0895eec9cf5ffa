"""Synthetic fracture example data as class folders (``cxrdet make-example --task fracture``).

First step of the fracture pipeline: it writes what ``ClassFolderDataset`` reads, so that the fracture CNNs can
be trained and tested without the seed's CT images. Each image is a longitudinal CT slice of a limb: air, soft
tissue, a long bone shaft (bright cortex walls around a darker trabecular medulla, slightly flared) through the
centre, roughly along the image columns (within 30 degrees), sometimes a thin neighbour bone. A fractured bone has
a line-like gap (2.5-5% of the side wide) across the shaft: transverse to oblique, at a random position near the
centre; one in five is a crack through part of the shaft only, and about half of the others have the far fragment
displaced sideways. Two slices per patient (the same bone, a small shift), all of one class, so that the grouped
split is exercised. A tiny CNN (4 conv layers of 8-32 channels) tells the classes apart after a few epochs at 96 px.

Layout::

    OUT/<normal>/<image_id>.png     8-bit grey, size x size
    OUT/<fractured>/<image_id>.png
    OUT/patients.csv                image_id,patient_id

Fractures lie within the central 40% of the image, so a centre crop of half the side still holds them (the seed's
``CenterCrop(400)`` at ``size`` >= 400). The output is byte-for-byte deterministic for a seed.
"""

from __future__ import annotations

import logging
import re
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

PATIENTS_CSV = "patients.csv"
DEFAULT_CLASSES = ("normal", "fractured")
DEFAULT_N_PER_CLASS, DEFAULT_SIZE = 40, 128
SLICES_PER_PATIENT = 2
AIR, TISSUE = 0.03, 0.30
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass
class FractureExampleSummary:
    """What :func:`make_fracture_example` wrote."""

    out_dir: Path
    classes: tuple[str, str]
    images: dict[str, list[str]]  # class name -> image ids
    patients: dict[str, str]  # image id -> patient id
    size: int
    seconds: float = field(default=0.0, compare=False)


@dataclass
class _Limb:
    """One patient's limb and (for a fractured one) its fracture; lengths in fractions of the image side."""

    centre: np.ndarray
    angle: float  # bone axis direction, radians (pi / 2: vertical)
    radius: float  # shaft outer radius
    cortex: float  # cortex thickness as a share of the radius
    flare: float  # radius grows by (1 + flare * u^2) along the axis
    tissue: float  # soft tissue half-width as a multiple of the radius
    cortex_level: float
    medulla_level: float
    neighbour: float | None  # signed offset of a thin neighbour bone (in radii), or None
    fracture: dict | None


def _limb(fractured: bool, rng: np.random.Generator) -> _Limb:
    radius = rng.uniform(0.08, 0.12)
    fracture = None
    if fractured:
        crack = rng.random() < 0.2
        displaced = not crack and rng.random() < 0.6
        fracture = {
            "u0": rng.uniform(-0.15, 0.15),  # position along the shaft from the centre
            "phi": np.deg2rad(rng.uniform(-35, 35)),  # 0 = transverse
            "gap": rng.uniform(0.025, 0.05),
            "depth": rng.uniform(0.6, 0.9) if crack else None,  # share of the shaft a crack crosses
            "side": float(rng.choice([-1.0, 1.0])),
            "shift": rng.uniform(0.25, 0.6) * radius * rng.choice([-1.0, 1.0]) if displaced else 0.0,
        }
    return _Limb(
        centre=np.array([0.5, 0.5]) + rng.uniform(-0.05, 0.05, 2),
        angle=np.pi / 2 + np.deg2rad(rng.uniform(-30, 30)),  # roughly along the image columns
        radius=radius,
        cortex=rng.uniform(0.22, 0.35),
        flare=rng.uniform(0.0, 1.5),
        tissue=rng.uniform(2.0, 2.8),
        cortex_level=rng.uniform(0.85, 0.95),
        medulla_level=rng.uniform(0.45, 0.55),
        neighbour=float(rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 1.9)) if rng.random() < 0.4 else None,
        fracture=fracture,
    )


def _inside(signed_px: np.ndarray) -> np.ndarray:
    """1 inside (negative distance in pixels), 0 outside, a one-pixel ramp across the border."""
    return np.clip(0.5 - signed_px, 0.0, 1.0)


def render_slice(limb: _Limb, size: int, rng: np.random.Generator) -> np.ndarray:
    """One CT slice of ``limb`` (with a small per-slice shift) as an 8-bit grey ``size x size`` image."""
    angle = limb.angle + np.deg2rad(rng.normal(0, 1.5))
    centre = (limb.centre + rng.normal(0, 0.006, 2)) * size
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    c, s = np.cos(angle), np.sin(angle)
    u = (xs - centre[0]) * c + (ys - centre[1]) * s  # along the bone, pixels
    v = -(xs - centre[0]) * s + (ys - centre[1]) * c  # across the bone, pixels
    radius = limb.radius * size
    keep, v_bone = np.ones_like(u), v
    frac = limb.fracture
    if frac is not None:
        u0, phi = frac["u0"] * size, frac["phi"]
        dist = (u - u0) * np.cos(phi) + v * np.sin(phi)  # signed distance to the fracture line
        along = -(u - u0) * np.sin(phi) + v * np.cos(phi)  # position on the line
        v_bone = np.where(dist > 0, v - frac["shift"] * size, v)  # the far fragment moves sideways
        keep = 1.0 - _inside(np.abs(dist) - frac["gap"] * size / 2)  # 0 in the gap
        if frac["depth"] is not None:  # a crack from one side, through part of the shaft only
            reach = -radius + 2 * radius * frac["depth"]
            keep = np.maximum(keep, _inside(reach - frac["side"] * along))
    r_u = radius * (1.0 + limb.flare * (u / size) ** 2)
    outer = _inside(np.abs(v_bone) - r_u) * keep
    inner = _inside(np.abs(v_bone) - r_u * (1.0 - limb.cortex)) * keep
    tissue = _inside((np.abs(v) / (limb.tissue * radius) - 1.0) * limb.tissue * radius)
    white = rng.standard_normal((size, size)).astype(np.float32)
    texture = cv2.GaussianBlur(white, (0, 0), max(0.8, size / 160))
    img = AIR + (TISSUE + 0.03 * texture - AIR) * tissue
    if limb.neighbour is not None:  # a thin solid neighbour bone beside the shaft, in both classes
        thin = _inside(np.abs(v - limb.neighbour * radius * 1.4) - 0.35 * radius)
        img = img * (1 - thin) + 0.8 * thin
    medulla = limb.medulla_level + 0.06 * texture
    img = img * (1 - outer) + limb.cortex_level * (outer - inner) + medulla * inner
    img = img + 0.02 * white + 0.015 * cv2.GaussianBlur(white, (0, 0), 2.0)
    img = img * rng.uniform(0.93, 1.07) + rng.uniform(-0.02, 0.02)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def _check_classes(classes: tuple[str, ...]) -> tuple[str, str]:
    if len(classes) != 2 or len(set(classes)) != 2:
        raise ConfigError(f"the fracture example needs two distinct class names (normal, fractured), got {classes}")
    for name in classes:
        if not _NAME.fullmatch(name) or name in ("train", "val"):
            raise ConfigError(
                f"bad class folder name {name!r}: use letters, digits, '_', '-', '.', not 'train' or 'val'"
            )
    return classes[0], classes[1]


def make_fracture_example(
    out: str | PathLike,
    n_per_class: int = DEFAULT_N_PER_CLASS,
    seed: int = 0,
    size: int = DEFAULT_SIZE,
    classes: tuple[str, ...] = DEFAULT_CLASSES,
    overwrite: bool = False,
) -> FractureExampleSummary:
    """Write a synthetic normal/fractured bone CT data set as class folders with a patient table.

    Patients are numbered in a seeded order across both classes (``P0000``...), each with
    :data:`SLICES_PER_PATIENT` slices ``<patient>_s<k>`` (an odd ``n_per_class`` leaves one patient with one).

    Args:
        out: output folder; must be empty or absent unless ``overwrite``.
        n_per_class: images of each class (>= 1; a split with both classes on both sides needs >= 2 patients
            a class, i.e. ``n_per_class`` >= 3).
        seed: random seed of everything (bones, fractures, patients, noise).
        size: side of the square images in pixels (32..2048; >= 400 for the seed's ``CenterCrop(400)``).
        classes: folder names of the (normal, fractured) classes.
        overwrite: replace this writer's files in a non-empty ``out`` (other files are kept).

    Returns:
        A summary of what was written.

    Raises:
        ConfigError: bad counts, size or class names, or a non-empty ``out`` without ``overwrite``.
    """
    start = time.perf_counter()
    names = _check_classes(tuple(classes))
    if n_per_class < 1:
        raise ConfigError(f"the fracture example needs n_per_class >= 1, got {n_per_class}")
    if not 32 <= size <= 2048:
        raise ConfigError(f"the fracture example's image size must be 32..2048 pixels, got {size}")
    out = Path(out)
    prepare_out_dir(out, overwrite, [*(f"{name}/*.png" for name in names), PATIENTS_CSV])
    per_class = -(-n_per_class // SLICES_PER_PATIENT)
    numbers = np.random.default_rng([seed, 43]).permutation(2 * per_class)
    images: dict[str, list[str]] = {name: [] for name in names}
    patients: dict[str, str] = {}
    for k, name in enumerate(names):
        for j in range(per_class):
            number = int(numbers[k * per_class + j])
            patient = f"P{number:04d}"
            limb = _limb(k == 1, np.random.default_rng([seed, 47, number]))
            n_slices = min(SLICES_PER_PATIENT, n_per_class - j * SLICES_PER_PATIENT)
            for s in range(n_slices):
                image_id = f"{patient}_s{s}"
                image = render_slice(limb, size, np.random.default_rng([seed, 53, number, s]))
                write_png_atomic(out / name / f"{image_id}.png", image)
                images[name].append(image_id)
                patients[image_id] = patient
    table = pd.DataFrame({"image_id": list(patients), "patient_id": list(patients.values())})
    write_csv(out / PATIENTS_CSV, table.sort_values("image_id"))
    summary = FractureExampleSummary(out, names, images, patients, size, seconds=time.perf_counter() - start)
    log.info(
        "wrote %d %s + %d %s CT slices (%d px, %d patients) to %s in %.1f s",
        len(images[names[0]]),
        names[0],
        len(images[names[1]]),
        names[1],
        size,
        len(set(patients.values())),
        out,
        summary.seconds,
    )
    return summary
