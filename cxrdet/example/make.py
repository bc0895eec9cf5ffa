"""The built-in example dataset: synthetic chest DICOMs + labels in the Kaggle VinDr layout (``make-example``)."""

from __future__ import annotations

import functools
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from cxrdet.errors import ConfigError
from cxrdet.example import DEFAULT_CLASSES, SUPPORTED_CLASSES
from cxrdet.example.dicom_writer import write_dicom
from cxrdet.example.lesions import Finding, draw_findings, modify_anatomy
from cxrdet.example.out_dir import prepare_out_dir
from cxrdet.example.phantom import render, sample_anatomy
from cxrdet.vindr import CLASS_NAMES, LABEL_COLUMNS, NO_FINDING

log = logging.getLogger(__name__)

DEFAULT_SIZES: tuple[tuple[int, int], ...] = (
    (512, 512),
    (512, 512),
    (576, 512),
    (640, 640),
    (640, 576),
    (704, 640),
    (768, 768),
    (832, 768),
    (1024, 1024),
    (1024, 896),
    (1280, 1152),
    (2048, 1792),
)
"""(rows, cols) deck shuffled per seed and dealt in turn: mostly small (fast), some large, non-square."""
SYNTAXES = ("explicit", "rle", "jpegls", "j2k", "explicit", "rle", "jpegls", "explicit")
"""Transfer syntax cycle; JPEG 2000 (the slowest to encode) gets 1 image in 8, up to 1.5 MP."""
WINDOWS = ("none", "single", "multi", "single", "none", "single", "single")
WORK_SIDE = 512  # anatomy and lesions are drawn at most this large, then resized
OUTPUT_FILES = ("train.csv", "sample_submission.csv", "test_labels.csv", "example_info.json")


@dataclass
class ExampleSummary:
    """What :func:`make_example` wrote."""

    out_dir: Path
    train_ids: list[str]
    test_ids: list[str]
    classes: tuple[int, ...]
    boxes_per_class: dict[int, int]  # true findings (not reader rows) per class, both splits
    n_normal: int  # images without any finding ("No finding" from all three readers)
    seconds: float = field(default=0.0, compare=False)


def _dicom_options(g: int, seed: int, rng: np.random.Generator) -> dict:
    """DICOM encoding of the ``g``-th image: coprime cycles so every variant shows up in ~16 images."""
    k = g + seed
    opts = {
        "transfer_syntax": SYNTAXES[k % len(SYNTAXES)],
        "bits_stored": (12, 16, 14)[k % 3],
        "photometric": "MONOCHROME1" if k % 5 == 1 or k % 7 == 4 else "MONOCHROME2",
        "window": WINDOWS[k % 7],
        "rescale": k % 11 in (2, 7),
        "signed": k % 11 == 9,
        "modality": "CR" if rng.random() < 0.3 else "DX",
    }
    if k % 13 == 6:  # one image in 13 carries a VOI LUT Sequence instead of a window
        opts.update(window="lut", bits_stored=12, rescale=False, signed=False)
    return opts


def _to_stored(bright: np.ndarray, opts: dict, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Map display brightness (0..1) to stored values and the matching DICOM VOI/modality tags."""
    bits = opts["bits_stored"]
    maxv = (1 << bits) - 1
    lo, hi = rng.uniform(0.02, 0.1) * maxv, rng.uniform(0.75, 0.97) * maxv
    stored = np.clip(np.rint(lo + bright * (hi - lo)), 0, maxv)
    if opts["photometric"] == "MONOCHROME1":
        stored = maxv - stored  # higher stored value = darker
    slope, intercept = 1.0, 0.0
    if opts["signed"]:  # int16 storage, shifted back to positive by the rescale intercept
        stored, intercept = stored - (1 << (bits - 1)), float(1 << (bits - 1))
        opts["rescale"] = True
    elif opts["rescale"]:
        slope, intercept = float(rng.choice([0.5, 2.0, 1.0])), float(rng.choice([-1024.0, 0.0, 100.0]))
    pixels = stored.astype(np.int16 if opts["signed"] else np.uint16)
    tags: dict = {"rescale": (slope, intercept) if opts["rescale"] else None, "window": None, "voi_lut": None}
    p_lo, p_hi = np.percentile(stored[::4, ::4], [1, 99.5])
    center, width = (p_lo + p_hi) / 2 * slope + intercept, max(1.0, (p_hi - p_lo) * slope)
    if opts["window"] == "single":
        tags["window"] = (round(center, 1), round(width, 1))
    elif opts["window"] == "multi":
        tags["window"] = ([round(center, 1), round(center, 1)], [round(width, 1), round(width * 1.6, 1)])
    elif opts["window"] == "lut":
        first, last = int(stored.min()), int(stored.max())
        ramp = np.arange(first, last + 1, dtype=np.float64)
        values = 4095 / (1 + np.exp(-(ramp - (p_lo + p_hi) / 2) / max(1.0, (p_hi - p_lo) / 6)))
        tags["voi_lut"] = (first, np.rint(values).astype(np.uint16))
    return pixels, tags


@functools.lru_cache(maxsize=2)
def _noise_tile(sizes: tuple[tuple[int, int], ...], seed: int) -> np.ndarray:
    """Spatially correlated unit noise big enough to crop any image's noise from (drawn once: fast)."""
    rows, cols = max(s[0] for s in sizes) + 256, max(s[1] for s in sizes) + 256
    white = np.random.default_rng([seed, 23]).standard_normal((rows, cols), dtype=np.float32)
    return 0.6 * white + 0.8 * cv2.GaussianBlur(white, (0, 0), 1.0)


def _render(
    rows: int, cols: int, class_ids: list[int], rng: np.random.Generator, noise_tile: np.ndarray
) -> tuple[np.ndarray, list[Finding]]:
    """Full-resolution brightness image with the planned findings, and their true boxes (fractions)."""
    scale = min(1.0, WORK_SIDE / max(rows, cols))
    h, w = max(64, round(rows * scale)), max(64, round(cols * scale))
    anatomy = sample_anatomy(rng)
    modify_anatomy(anatomy, class_ids, rng)
    drawn = render(anatomy, h, w, rng)
    findings = draw_findings(drawn, anatomy, class_ids, rng)
    img = drawn.image
    if (h, w) != (rows, cols):
        img = cv2.resize(img, (cols, rows), interpolation=cv2.INTER_LINEAR)
    oy, ox = rng.integers(noise_tile.shape[0] - rows + 1), rng.integers(noise_tile.shape[1] - cols + 1)
    noise = noise_tile[oy : oy + rows, ox : ox + cols]
    img = img + noise * (0.006 + 0.012 * np.sqrt(np.clip(img, 0, 1)))  # quantum-like, grows with signal
    return np.clip(img, 0, 1), findings


def _make_image(job: tuple) -> tuple[list[dict], dict]:
    """Render, encode and write one image; return its reader rows and its example_info entry."""
    out, split, g, image_id, plan, (rows, cols), seed, sizes = job
    rng = np.random.default_rng([seed, 17, g])
    bright, findings = _render(rows, cols, plan, rng, _noise_tile(sizes, seed))
    opts = _dicom_options(g, seed, rng)
    if opts["transfer_syntax"] == "j2k" and rows * cols > 1_500_000:  # keep generation fast
        opts["transfer_syntax"] = "jpegls"
    pixels, tags = _to_stored(bright, opts, rng)
    spacing = None if rng.random() < 0.2 else round(430.0 / max(rows, cols), 4)
    write_dicom(
        out / split / f"{image_id}.dicom",
        pixels,
        bits_stored=opts["bits_stored"],
        photometric=opts["photometric"],
        transfer_syntax=opts["transfer_syntax"],
        modality=opts["modality"],
        pixel_spacing=None if spacing is None else (spacing, spacing),
        uid_seed=f"{seed}-{image_id}",
        patient_name=f"SYNTHETIC^PATIENT^{g}",
        **tags,
        **_patient(rng),
    )
    boxes = [
        [round(f.box[0] * cols, 2), round(f.box[1] * rows, 2), round(f.box[2] * cols, 2), round(f.box[3] * rows, 2)]
        for f in findings
    ]
    info = {
        "image_id": image_id,
        "split": split,
        "rows": rows,
        "cols": cols,
        **opts,
        "findings": [{"class_id": f.class_id, "box": b} for f, b in zip(findings, boxes)],
    }
    return _reader_rows(image_id, findings, rows, cols, rng), info


def _plan(n: int, n_normal: int, classes: tuple[int, ...], rng: np.random.Generator) -> list[list[int]]:
    normal = set(rng.permutation(n)[:n_normal].tolist())
    plans = []
    for i in range(n):
        if i in normal:
            plans.append([])
            continue
        k = min(len(classes), int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15])))
        chosen = sorted(int(c) for c in rng.choice(classes, size=k, replace=False))
        if 8 in chosen and rng.random() < 0.25:
            chosen.append(8)  # a second nodule
        plans.append(chosen)
    return plans


def _reader_rows(image_id: str, findings: list[Finding], rows: int, cols: int, rng: np.random.Generator) -> list[dict]:
    """Three radiologists' rows for one image: jittered true boxes, an occasional miss, No finding otherwise."""
    weights = np.array([6.0 if r in (8, 9, 10) else 1.0 for r in range(1, 18)])
    readers = [f"R{r}" for r in rng.choice(np.arange(1, 18), size=3, replace=False, p=weights / weights.sum())]
    reported: dict[str, list[Finding]] = {r: [] for r in readers}
    for f in findings:
        hits = [r for r in readers if rng.random() > 0.08] or [readers[int(rng.integers(3))]]
        for r in hits:
            reported[r].append(f)
    out = []
    for r in readers:
        if not reported[r]:
            out.append(
                {
                    "image_id": image_id,
                    "class_name": CLASS_NAMES[NO_FINDING],
                    "class_id": NO_FINDING,
                    "rad_id": r,
                    "x_min": np.nan,
                    "y_min": np.nan,
                    "x_max": np.nan,
                    "y_max": np.nan,
                }
            )
        for f in reported[r]:
            x0, y0, x1, y1 = f.box[0] * cols, f.box[1] * rows, f.box[2] * cols, f.box[3] * rows
            sx, sy = 0.025 * (x1 - x0) + 0.003 * cols, 0.025 * (y1 - y0) + 0.003 * rows
            j = rng.normal(0, 1, 4)
            box = np.rint([x0 + j[0] * sx, y0 + j[1] * sy, x1 + j[2] * sx, y1 + j[3] * sy])
            box = np.clip(box, 0, [cols - 1, rows - 1, cols - 1, rows - 1])
            box[2], box[3] = max(box[2], box[0] + 1), max(box[3], box[1] + 1)
            out.append(
                {
                    "image_id": image_id,
                    "class_name": CLASS_NAMES[f.class_id],
                    "class_id": f.class_id,
                    "rad_id": r,
                    "x_min": box[0],
                    "y_min": box[1],
                    "x_max": box[2],
                    "y_max": box[3],
                }
            )
    return out


def _patient(rng: np.random.Generator) -> dict:
    u = rng.random()
    sex = None if u < 0.03 else ("" if u < 0.06 else ("M" if rng.random() < 0.55 else "F"))
    v = rng.random()
    age = None if v < 0.05 else (f"{int(rng.integers(1, 12)):03d}M" if v < 0.08 else int(rng.integers(18, 90)))
    return {"sex": sex, "age": age}


def make_example(
    out_dir: str | PathLike,
    n_train: int = 80,
    n_test: int = 20,
    seed: int = 0,
    sizes: list[tuple[int, int]] | None = None,
    classes: tuple[int, ...] = DEFAULT_CLASSES,
    normal_fraction: float = 0.3,
    overwrite: bool = False,
    workers: int = 1,
) -> ExampleSummary:
    """Write a synthetic VinDr-style dataset: DICOMs, ``train.csv`` and ``sample_submission.csv``.

    Layout: ``OUT/train/<id>.dicom``, ``OUT/test/<id>.dicom``, ``OUT/train.csv`` (3 readers per image),
    ``OUT/sample_submission.csv``, plus ``OUT/test_labels.csv`` (the test images' labels, same format
    as train.csv) and ``OUT/example_info.json`` (true boxes in pixels and each file's DICOM encoding).
    The output is byte-for-byte deterministic for a seed.

    Args:
        out_dir: output folder; must be empty or absent unless ``overwrite``.
        n_train: number of training images.
        n_test: number of test images.
        seed: random seed of everything (ids, anatomy, findings, readers, DICOM variants, UIDs).
        sizes: (rows, cols) choices dealt in a seeded order; default :data:`DEFAULT_SIZES`.
        classes: finding classes to draw, a subset of :data:`cxrdet.example.SUPPORTED_CLASSES`.
        normal_fraction: share of "No finding" images in each split.
        overwrite: replace the files make-example writes in a non-empty ``out_dir`` (others are kept).
        workers: processes rendering images in parallel; the output does not depend on it.

    Returns:
        A summary of what was written.

    Raises:
        ConfigError: bad counts/classes/sizes, or a non-empty ``out_dir`` without ``overwrite``.
    """
    start = time.perf_counter()
    classes = tuple(sorted(set(int(c) for c in classes)))
    if not classes or not set(classes) <= set(SUPPORTED_CLASSES):
        raise ConfigError(f"classes must be a non-empty subset of {SUPPORTED_CLASSES}, got {classes}")
    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise ConfigError(f"need n_train >= 0, n_test >= 0 and some images, got {n_train}, {n_test}")
    if not 0 <= normal_fraction <= 1:
        raise ConfigError(f"normal_fraction must be in [0, 1], got {normal_fraction}")
    sizes = [(int(r), int(c)) for r, c in (sizes or DEFAULT_SIZES)]
    if any(min(s) < 64 or max(s) > 8192 for s in sizes):
        raise ConfigError(f"image sizes must be 64..8192 pixels a side, got {sizes}")
    out = Path(out_dir)
    prepare_out_dir(out, overwrite, ["train/*.dicom", "test/*.dicom", *OUTPUT_FILES])

    id_rng = np.random.default_rng([seed, 7])
    ids: list[str] = []
    while len(ids) < n_train + n_test:
        new = id_rng.bytes(8).hex()
        if new not in ids:
            ids.append(new)
    deck = [sizes[i] for i in np.random.default_rng([seed, 11]).permutation(len(sizes))]
    plan_rng = np.random.default_rng([seed, 13])
    plans = _plan(n_train, round(normal_fraction * n_train), classes, plan_rng) + _plan(
        n_test, round(normal_fraction * n_test), classes, plan_rng
    )

    jobs = [
        (out, "train" if g < n_train else "test", g, image_id, plan, deck[g % len(deck)], seed, tuple(sizes))
        for g, (image_id, plan) in enumerate(zip(ids, plans))
    ]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_make_image, jobs, chunksize=4))
    else:
        results = [_make_image(job) for job in jobs]
    labels: dict[str, list[dict]] = {"train": [], "test": []}
    info, counts = [], {c: 0 for c in classes}
    for job, (rows_, image_info) in zip(jobs, results):
        labels[job[1]] += rows_
        info.append(image_info)
        for f in image_info["findings"]:
            counts[f["class_id"]] += 1

    for split, name in (("train", "train.csv"), ("test", "test_labels.csv")):
        pd.DataFrame(labels[split], columns=list(LABEL_COLUMNS)).to_csv(out / name, index=False)
    test_ids = ids[n_train:]
    pd.DataFrame({"image_id": test_ids, "PredictionString": ["14 1 0 0 1 1"] * len(test_ids)}).to_csv(
        out / "sample_submission.csv", index=False
    )
    meta = {
        "seed": seed,
        "classes": {c: CLASS_NAMES[c] for c in classes},
        "normal_fraction": normal_fraction,
        "images": info,
    }
    (out / "example_info.json").write_text(json.dumps(meta, indent=1) + "\n")
    summary = ExampleSummary(
        out,
        ids[:n_train],
        test_ids,
        classes,
        counts,
        n_normal=sum(not i["findings"] for i in info),
        seconds=time.perf_counter() - start,
    )
    log.info(
        "wrote %d train + %d test images to %s in %.1f s (findings per class: %s)",
        n_train,
        n_test,
        out,
        summary.seconds,
        counts,
    )
    return summary
