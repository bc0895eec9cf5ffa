"""Synthetic PA chest-radiograph anatomy for the example dataset: geometry -> a brightness image."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

# Brightness levels on a MONOCHROME2 display scale (0 = black air, 1 = white metal).
AIR, SOFT_TISSUE, LUNG_DROP, MEDIASTINUM, BONE = 0.04, 0.50, 0.36, 0.16, 0.11


@dataclass
class Anatomy:
    """Geometry of one synthetic chest, in fractions of image width (x) and height (y).

    Lungs are indexed 0 = image left (patient's right), 1 = image right (patient's left).
    """

    midline: float = 0.5
    lung_cx: tuple[float, float] = (0.29, 0.71)
    lung_cy: float = 0.46
    lung_rx: tuple[float, float] = (0.19, 0.18)
    lung_ry: float = 0.35
    dome_y: tuple[float, float] = (0.71, 0.74)  # peak of each hemidiaphragm
    dome_drop: float = 0.08  # how much lower the costophrenic angle is than the peak
    mediastinum_half: float = 0.075
    heart_cx: float = 0.55
    heart_cy: float = 0.63
    heart_rx: float = 0.16
    heart_ry: float = 0.15
    heart_angle: float = 0.25  # radians; long axis from upper image-left to lower image-right
    knob_cx: float = 0.585
    knob_cy: float = 0.31
    knob_r: float = 0.03
    body_half: float = 0.45
    rib_phase: float = 0.0
    seed: int = 0  # seed of the vessel pattern

    def dome(self, side: int, x: np.ndarray) -> np.ndarray:
        """y of the diaphragm dome under lung ``side`` at x: peaks mid-lung, drops steeply laterally
        (costophrenic angle) and gently medially (cardiophrenic angle)."""
        t = (x - self.lung_cx[side]) / self.lung_rx[side]
        t = np.clip(t if side == 1 else -t, -1.4, 1.3)  # positive = lateral
        return self.dome_y[side] + self.dome_drop * np.where(t > 0, 1.0, 0.3) * t**2


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """A normal chest with seeded variation of position, size and diaphragm level.

    Args:
        rng: the image's random generator.

    Returns:
        The geometry; lesion code may change it (e.g. cardiomegaly enlarges the heart).
    """
    mid = 0.5 + rng.normal(0, 0.012)
    scale = rng.uniform(0.94, 1.04)
    lung_rx = (0.19 * scale * rng.uniform(0.95, 1.05), 0.18 * scale * rng.uniform(0.95, 1.05))
    gap = 0.215 * scale
    dome_r = rng.uniform(0.68, 0.74)
    heart_rx = rng.uniform(0.135, 0.165) * scale
    return Anatomy(
        midline=mid,
        lung_cx=(mid - gap, mid + gap),
        lung_cy=rng.uniform(0.44, 0.48),
        lung_rx=lung_rx,
        lung_ry=0.35 * rng.uniform(0.95, 1.05),
        dome_y=(dome_r, dome_r + rng.uniform(0.015, 0.04)),
        dome_drop=rng.uniform(0.06, 0.09),
        mediastinum_half=rng.uniform(0.065, 0.08),
        heart_cx=mid + rng.uniform(0.035, 0.05),
        heart_cy=dome_r - rng.uniform(0.03, 0.05),
        heart_rx=heart_rx,
        heart_ry=rng.uniform(0.14, 0.16),
        heart_angle=rng.uniform(0.15, 0.35),
        knob_cx=mid + rng.uniform(0.075, 0.09),
        knob_cy=rng.uniform(0.29, 0.33),
        knob_r=rng.uniform(0.024, 0.032),
        body_half=rng.uniform(0.43, 0.47),
        rib_phase=rng.uniform(-0.012, 0.012),
        seed=int(rng.integers(1 << 31)),
    )


def _smooth_inside(signed_dist: np.ndarray, edge: float) -> np.ndarray:
    """1 inside (negative distance), 0 outside, a linear ramp of width ``edge`` across the border."""
    return np.clip(0.5 - signed_dist / edge, 0.0, 1.0).astype(np.float32)


@dataclass
class Rendered:
    """The brightness image on the working grid plus masks that lesion code needs."""

    image: np.ndarray  # float32 (h, w), brightness 0..~1
    lung: tuple[np.ndarray, np.ndarray]  # soft lung masks per side, 0..1, heart/mediastinum removed
    heart: np.ndarray  # soft heart mask
    abdomen: np.ndarray  # soft mask of everything below the diaphragm domes
    xs: np.ndarray  # (1, w) x coordinate of each column, fraction of width
    ys: np.ndarray  # (h, 1) y coordinate of each row, fraction of height


def lung_masks(a: Anatomy, xs: np.ndarray, ys: np.ndarray, edge: float) -> tuple[np.ndarray, ...]:
    """Soft masks of (lung side 0, lung side 1, heart, aortic knob) on the grid ``xs`` x ``ys``."""
    c, s_ = np.cos(a.heart_angle), np.sin(a.heart_angle)
    u, v = (xs - a.heart_cx) * c + (ys - a.heart_cy) * s_, -(xs - a.heart_cx) * s_ + (ys - a.heart_cy) * c
    heart = _smooth_inside(np.hypot(u / a.heart_rx, v / a.heart_ry) - 1, edge * 6)
    aspect = ys.shape[0] / xs.shape[1]
    knob = _smooth_inside(np.hypot(xs - a.knob_cx, (ys - a.knob_cy) * aspect) / a.knob_r - 1, edge * 8)
    lungs = []
    for side in (0, 1):
        dx = np.abs(xs - a.lung_cx[side]) / a.lung_rx[side]
        dy = (ys - a.lung_cy) / a.lung_ry
        # rounded apex (p = 2 superellipse), squarer base (p = 3)
        radius = np.where(dy > 0, np.cbrt(dx**3 + np.abs(dy) ** 3), np.sqrt(dx**2 + dy**2))
        shape = _smooth_inside(radius - 1, edge * 4)
        below_dome = _smooth_inside(a.dome(side, xs) - ys, edge / 2)  # 1 where y > dome
        # mediastinal border: wider superior mediastinum, gentle curvature
        half = a.mediastinum_half * (1 + 0.25 * np.clip((0.3 - ys) / 0.2, 0, 1)) + 0.01 * np.sin(ys * 9)
        medial = a.midline + (half if side else -half)
        inner = _smooth_inside((xs - medial) * (1 if side == 0 else -1), edge)
        lung = shape * (1 - below_dome) * inner * (1 - heart) * (1 - knob)
        lungs.append(lung.astype(np.float32))
    return lungs[0], lungs[1], heart, knob


def _draw_ribs(a: Anatomy, h: int, w: int) -> np.ndarray:
    layer = np.zeros((h, w), np.float32)
    t = np.linspace(0, 1, 48)
    for side in (0, 1):
        sgn = -1 if side == 0 else 1
        reach = abs(a.lung_cx[side] - a.midline) + a.lung_rx[side] * 1.03
        for i in range(11):
            thick = max(2, round((0.016 + 0.0015 * i) * h))
            y0 = 0.09 + a.rib_phase + i * 0.058
            # posterior rib: leaves the spine rising a little, then sweeps down along the lateral wall
            x = a.midline + sgn * (0.025 + t * (reach - 0.025))
            y = y0 - 0.03 * t + 0.07 * t**2 + 0.08 * t**4 + 0.004 * i * t
            pts = np.stack([x * w, y * h], axis=1).astype(np.int32)
            cv2.polylines(layer, [pts], False, 0.5, thick, cv2.LINE_AA)
            cv2.polylines(layer, [pts + [0, thick // 2]], False, 1.0, max(1, thick // 4), cv2.LINE_AA)
            cv2.polylines(layer, [pts - [0, thick // 2]], False, 0.8, max(1, thick // 5), cv2.LINE_AA)
            # fainter anterior rib: from the lateral wall running down and medially
            xa = a.midline + sgn * (reach - t * reach * 0.65)
            ya = y0 + 0.11 + 0.13 * t - 0.04 * t**2
            pts = np.stack([xa * w, ya * h], axis=1).astype(np.int32)
            cv2.polylines(layer, [pts], False, 0.3, max(1, thick * 3 // 4), cv2.LINE_AA)
        # clavicle
        x = a.midline + sgn * (0.045 + t * 0.27)
        y = 0.15 + a.rib_phase - 0.06 * t + 0.025 * np.sin(np.pi * t)
        pts = np.stack([x * w, y * h], axis=1).astype(np.int32)
        cv2.polylines(layer, [pts], False, 1.0, max(2, int(0.028 * h)), cv2.LINE_AA)
    return cv2.GaussianBlur(layer, (0, 0), max(0.6, h / 600))


def _draw_vessels(a: Anatomy, lungs: tuple[np.ndarray, np.ndarray], h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(a.seed)
    layer = np.zeros((h, w), np.float32)
    for side in (0, 1):
        hilum = np.array([a.lung_cx[side] + (0.08 if side == 0 else -0.08), a.lung_cy + 0.03])
        for _ in range(14):
            ang = rng.uniform(-np.pi, np.pi)
            pos, width = hilum.copy(), 3.0
            for _step in range(9):
                ang += rng.normal(0, 0.3)
                nxt = pos + 0.035 * np.array([np.cos(ang), np.sin(ang)])
                p0 = (int(pos[0] * w), int(pos[1] * h))
                p1 = (int(nxt[0] * w), int(nxt[1] * h))
                cv2.line(layer, p0, p1, 1.0, max(1, int(width * h / 512)), cv2.LINE_AA)
                pos, width = nxt, width * 0.82
    layer = cv2.GaussianBlur(layer, (0, 0), max(0.7, h / 500))
    return layer * np.clip(lungs[0] + lungs[1], 0, 1)


def _low_frequency(rng: np.random.Generator, h: int, w: int, amplitude: float) -> np.ndarray:
    field_ = rng.normal(0, 1, (6, 6)).astype(np.float32)
    field_ = cv2.resize(field_, (w, h), interpolation=cv2.INTER_CUBIC)
    return amplitude * field_ / max(1e-6, float(np.abs(field_).max()))


def render(a: Anatomy, h: int, w: int, rng: np.random.Generator) -> Rendered:
    """Draw the anatomy on an ``h`` x ``w`` working grid (brighter = denser, MONOCHROME2 sense).

    Args:
        a: geometry (possibly modified by anatomy-changing findings).
        h: grid rows.
        w: grid columns.
        rng: random generator for texture.

    Returns:
        The brightness image and masks; lesions are drawn on it afterwards.
    """
    ys = ((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None]
    xs = ((np.arange(w, dtype=np.float32) + 0.5) / w)[None, :]
    edge = 1.5 / min(h, w)
    lung0, lung1, heart, knob = lung_masks(a, xs, ys, edge)

    # torso with rounded shoulders
    shoulder = 0.22 * np.clip((0.2 - ys) / 0.2, 0, 1) ** 1.5
    body = _smooth_inside(np.abs(xs - a.midline) - a.body_half * (1 - shoulder), edge * 14)
    img = AIR + (SOFT_TISSUE - AIR) * body
    img = img + 0.07 * body * np.clip(np.abs(xs - a.midline) / a.body_half, 0, 1) ** 3  # thick lateral wall

    # water-dense mediastinum, heart (thickest in the middle), aorta and abdomen under the domes
    abdomen = np.maximum(*(_smooth_inside(a.dome(side, xs) - ys, edge * 3) for side in (0, 1)))
    outer = max(a.midline - a.lung_cx[0] + a.lung_rx[0], a.lung_cx[1] + a.lung_rx[1] - a.midline)
    under = abdomen * _smooth_inside(np.abs(xs - a.midline) - outer, 0.08) * (0.85 + 0.3 * (ys - 0.75))
    half = a.mediastinum_half * (1 + 0.25 * np.clip((0.3 - ys) / 0.2, 0, 1))
    mediast = 0.75 * _smooth_inside(np.abs(xs - a.midline) - half, edge * 6) * (ys < a.heart_cy)
    c, s_ = np.cos(a.heart_angle), np.sin(a.heart_angle)
    u, v = (xs - a.heart_cx) * c + (ys - a.heart_cy) * s_, -(xs - a.heart_cx) * s_ + (ys - a.heart_cy) * c
    thickness = np.sqrt(np.clip(1 - (u / a.heart_rx) ** 2 - (v / a.heart_ry) ** 2, 0, 1))
    dense = np.maximum.reduce([mediast, heart * (0.75 + 0.25 * thickness), knob, under])
    img = img + MEDIASTINUM * dense * body

    # trachea and main bronchi: an air column in the upper mediastinum
    carina = (a.midline + 0.005, a.knob_cy + 0.06)
    airway = np.zeros((h, w), np.float32)
    top = (int(a.midline * w), 0)
    cv2.line(airway, top, (int(carina[0] * w), int(carina[1] * h)), 1.0, max(2, int(0.03 * w)), cv2.LINE_AA)
    for side in (0, 1):
        hilum = (a.lung_cx[side] + (0.09 if side == 0 else -0.09), carina[1] + 0.06)
        cv2.line(
            airway,
            (int(carina[0] * w), int(carina[1] * h)),
            (int(hilum[0] * w), int(hilum[1] * h)),
            0.7,
            max(1, int(0.016 * w)),
            cv2.LINE_AA,
        )
    img = img - 0.09 * cv2.GaussianBlur(airway, (0, 0), max(1.0, w / 250))

    # spine with vertebral bodies, seen faintly through the mediastinum
    spine = _smooth_inside(np.abs(xs - a.midline) - 0.032, edge * 4)
    vert = np.cos(np.pi * (ys - a.rib_phase) / 0.05) ** 10
    img = img + 0.6 * BONE * spine * (0.7 + 0.3 * (1 - vert)) * body

    # lungs: darker, darkest in the middle of each field
    lungs = np.clip(lung0 + lung1, 0, 1)
    small = cv2.resize(lungs, (max(8, w // 4), max(8, h // 4)), interpolation=cv2.INTER_AREA)
    lungs_blur = cv2.resize(cv2.GaussianBlur(small, (0, 0), max(1.0, 0.0075 * h)), (w, h))
    img = img - LUNG_DROP * lungs * (0.45 + 0.55 * lungs_blur)
    for side in (0, 1):  # hilar vessels
        hx, hy = a.lung_cx[side] + (0.085 if side == 0 else -0.085), a.lung_cy + 0.04
        img = img + 0.08 * np.exp(-((xs - hx) ** 2 + (ys - hy) ** 2) / (2 * 0.03**2)) * lungs

    # ribs and clavicles (seen best over the lungs), lung vessels
    thorax = _smooth_inside(np.abs(xs - a.midline) - a.body_half * 0.93, edge * 10) * (ys < 0.9)
    img = img + BONE * _draw_ribs(a, h, w) * thorax * (0.35 + 0.55 * lungs)
    img = img + 0.06 * _draw_vessels(a, (lung0, lung1), h, w)

    # gastric bubble under the left hemidiaphragm (image right)
    gy = a.dome_y[1] + 0.07
    bubble = _smooth_inside(np.hypot((xs - a.lung_cx[1] - 0.03) / 0.05, (ys - gy) / 0.03) - 1, edge * 10)
    img = img - 0.10 * bubble * body

    img = img + _low_frequency(rng, h, w, 0.035) + 0.04 * (ys - 0.5)  # heel effect / thickness
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), max(0.5, h / 700))  # focal-spot unsharpness
    return Rendered(np.clip(img, 0, 1).astype(np.float32), (lung0, lung1), heart, abdomen, xs, ys)
