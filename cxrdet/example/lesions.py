"""Synthetic findings for the example dataset: change the anatomy or draw a lesion, and return its true box."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from cxrdet.example import DEFAULT_CLASSES, SUPPORTED_CLASSES  # noqa: F401  (re-exported)
from cxrdet.example.phantom import LUNG_DROP, Anatomy, Rendered

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One true finding: its class and box as fractions of image width/height (x0, y0, x1, y1)."""

    class_id: int
    box: tuple[float, float, float, float]


def modify_anatomy(anatomy: Anatomy, class_ids: list[int], rng: np.random.Generator) -> None:
    """Apply the anatomy-changing findings in ``class_ids`` to ``anatomy`` in place.

    Args:
        anatomy: a normal chest from :func:`cxrdet.example.phantom.sample_anatomy`.
        class_ids: the image's planned findings.
        rng: the image's random generator.
    """
    if 3 in class_ids:  # Cardiomegaly: cardiothoracic ratio ~0.6-0.7 instead of ~0.4-0.5
        anatomy.heart_rx *= rng.uniform(1.45, 1.6)
        anatomy.heart_ry *= rng.uniform(1.15, 1.3)
        anatomy.heart_cx += rng.uniform(0.02, 0.035)
        anatomy.heart_cy -= rng.uniform(0.0, 0.02)
    if 0 in class_ids:  # Aortic enlargement: a bulging aortic knob
        anatomy.knob_r *= rng.uniform(1.9, 2.3)
        anatomy.knob_cx += rng.uniform(0.02, 0.03)


def _bbox(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Box of the True cells of a working-grid mask, as fractions of the grid (cell edges)."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    h, w = mask.shape
    return (cols.min() / w, rows.min() / h, (cols.max() + 1) / w, (rows.max() + 1) / h)


def _lung_point(
    r: Rendered, side: int, margin_px: float, rng: np.random.Generator, avoid: np.ndarray | None = None
) -> tuple[int, int] | None:
    """A random (row, col) at least ``margin_px`` inside lung ``side`` (and outside ``avoid``)."""
    inside = (r.lung[side] > 0.5).astype(np.uint8)
    if avoid is not None:
        inside &= (avoid < 0.05).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    rows, cols = np.nonzero(dist > margin_px)
    if rows.size == 0:
        return None
    i = rng.integers(rows.size)
    return int(rows[i]), int(cols[i])


def _nodule(r: Rendered, rng: np.random.Generator, taken: np.ndarray) -> Finding | None:
    h, w = r.image.shape
    radius = rng.uniform(0.028, 0.045) * min(h, w)  # diameter 5.6-9 % of the shorter side
    point = _lung_point(r, int(rng.integers(2)), radius * 1.3, rng, avoid=taken)
    if point is None:
        return None
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = yy - point[0], xx - point[1]
    theta = np.arctan2(dy, dx)
    lobes = 1 + 0.05 * np.sin(3 * theta + rng.uniform(0, 6.3)) + 0.03 * np.sin(5 * theta + rng.uniform(0, 6.3))
    d = np.hypot(dx, dy) / (radius * lobes)
    profile = np.sqrt(np.clip(1 - d**2, 0, 1))  # projection of a sphere: bright centre, defined edge
    r.image += rng.uniform(0.24, 0.32) * (0.3 + 0.7 * profile) * (d < 1)
    taken += cv2.dilate((d < 1.6).astype(np.float32), None)
    return Finding(8, _bbox(d < 1))


def _effusion(r: Rendered, a: Anatomy, rng: np.random.Generator) -> Finding | None:
    side = int(rng.integers(2))
    lung = r.lung[side]
    lateral = a.lung_cx[side] + (-a.lung_rx[side] if side == 0 else a.lung_rx[side])
    d = np.clip(np.abs(r.xs - lateral) / (2 * a.lung_rx[side]), 0, 1)  # 0 at the wall, 1 medially
    top = a.dome_y[side] + a.dome_drop - rng.uniform(0.14, 0.24)  # meniscus top at the lateral wall
    meniscus = top + (a.dome_y[side] - 0.015 - top) * d**0.6
    ramp = np.clip((r.ys - meniscus) / 0.02, 0, 1)
    fluid = lung * ramp
    r.image += (LUNG_DROP + rng.uniform(0.04, 0.08)) * fluid
    return Finding(10, _bbox(fluid > 0.5))


def _patchy(r: Rendered, rng: np.random.Generator, class_id: int, taken: np.ndarray) -> Finding | None:
    h, w = r.image.shape
    side = int(rng.integers(2))
    size = rng.uniform(0.055, 0.085) * min(h, w)
    center = _lung_point(r, side, size * 0.6, rng, avoid=taken)
    if center is None:
        return None
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    density = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(4, 8))):
        cy, cx = center[0] + rng.normal(0, size * 0.45), center[1] + rng.normal(0, size * 0.45)
        s = size * rng.uniform(0.35, 0.6)
        density += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2.0)
    if class_id == 4:  # Consolidation: dense and homogeneous
        density = np.clip(density * 1.8, 0, 1)
        amplitude = rng.uniform(0.26, 0.32)
    else:  # Lung Opacity: softer, mottled
        density = np.clip(density * 1.3, 0, 1) * (1 + 0.6 * texture)
        amplitude = rng.uniform(0.2, 0.26)
    opacity = np.clip(density, 0, 1) * (r.lung[side] > 0.5)
    opacity[opacity < 0.25] = 0  # a defined edge so the box is well posed
    r.image += amplitude * opacity
    taken += cv2.dilate((opacity > 0).astype(np.float32), None)
    return Finding(class_id, _bbox(opacity > 0))


def _thickening(r: Rendered, a: Anatomy, rng: np.random.Generator) -> Finding | None:
    _h, w = r.image.shape
    side = int(rng.integers(2))
    inside = (r.lung[side] > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    band = (inside > 0) & (dist <= rng.uniform(0.014, 0.022) * w)
    lateral = (r.xs - a.lung_cx[side]) * (1 if side else -1) > 0.45 * a.lung_rx[side]  # wall side only
    y0 = rng.uniform(a.lung_cy - 0.2, a.lung_cy + 0.1)
    band &= lateral & (r.ys > y0) & (r.ys < y0 + rng.uniform(0.12, 0.2))
    if not band.any():
        return None
    r.image += rng.uniform(0.22, 0.28) * cv2.GaussianBlur(band.astype(np.float32), (0, 0), 0.7) * (band > 0)
    return Finding(11, _bbox(band))


def draw_findings(r: Rendered, a: Anatomy, class_ids: list[int], rng: np.random.Generator) -> list[Finding]:
    """Draw the planned findings into ``r.image`` (in place) and return their true boxes.

    Args:
        r: the rendered anatomy (already modified by :func:`modify_anatomy`).
        a: its geometry.
        class_ids: planned findings; a class may repeat (e.g. two nodules).
        rng: the image's random generator.

    Returns:
        One :class:`Finding` per lesion actually drawn (a lesion with no room is skipped).
    """
    findings: list[Finding] = []
    taken = np.zeros_like(r.image)
    # rows at/below the dome, for the anatomy-level boxes
    above_dome = np.minimum(a.dome(0, r.xs), a.dome(1, r.xs)) > r.ys
    for class_id in class_ids:
        if class_id == 3:
            found = Finding(3, _bbox((r.heart > 0.5) & above_dome))
        elif class_id == 0:
            aspect = r.image.shape[1] / r.image.shape[0]
            ry = a.knob_r * aspect
            found = Finding(0, (a.knob_cx - a.knob_r, a.knob_cy - ry, a.knob_cx + a.knob_r, a.knob_cy + ry))
        elif class_id == 8:
            found = _nodule(r, rng, taken)
        elif class_id == 10:
            found = _effusion(r, a, rng)
        elif class_id in (4, 7):
            found = _patchy(r, rng, class_id, taken)
        elif class_id == 11:
            found = _thickening(r, a, rng)
        else:
            raise ValueError(f"class {class_id} cannot be drawn; supported: {SUPPORTED_CLASSES}")
        if found is not None and found.box is not None:
            findings.append(found)
        else:
            log.debug("no room for class %d; skipped", class_id)
    np.clip(r.image, 0, 1, out=r.image)
    return findings
