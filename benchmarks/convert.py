"""Benchmark: ``cxrdet convert --size 1024`` vs the winning teams' single-process DICOM -> PNG recipe.

Generates 3072x3072 chest-like DICOMs (14- and 16-bit, half MONOCHROME1, all with VOI windows), converts
them with the reference recipe (dcmread, apply_voi_lut, invert MONOCHROME1, min-max, cv2.resize INTER_AREA,
cv2.imwrite) and with cxrdet (1 worker, then N workers), in one run, and prints images per second, the
speed-up and the largest per-pixel difference between the two 8-bit outputs.

    .venv/bin/python benchmarks/convert.py [--images 40] [--workers 2] [--data DIR]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

SIZE = 1024
TARGET_PER_WORKER = 5.0
TARGET_ALL_WORKERS = 9.0


def make_data(folder: Path, n: int, side: int = 3072) -> list[Path]:
    """n synthetic radiographs (cached in ``folder``): 14/16-bit, half MONOCHROME1, VOI windows."""
    from cxrdet.example.dicom_writer import write_dicom
    from cxrdet.example.phantom import render, sample_anatomy

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        path = folder / f"bench{i:03d}.dicom"
        files.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        small = render(sample_anatomy(rng), side // 4, side // 4, rng).image
        bright = cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC)
        bits = 14 if i % 2 == 0 else 16
        top = (1 << bits) - 1
        values = np.clip(bright * 0.8 + 0.1 + rng.normal(0, 0.01, bright.shape), 0, 1) * top
        mono1 = i % 4 in (1, 2)  # half of the files, across both bit depths
        stored = (top - values if mono1 else values).astype(np.uint16)
        center = float(top * (0.45 + 0.1 * rng.random()))
        write_dicom(
            path,
            stored,
            bits_stored=bits,
            photometric="MONOCHROME1" if mono1 else "MONOCHROME2",
            window=(center, float(top * 0.7)),
            uid_seed=i,
        )
    return files


def reference_convert(files: list[Path], out: Path) -> float:
    """The public notebooks' recipe, one process; returns seconds."""
    import pydicom
    from pydicom.pixels import apply_voi_lut

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for path in files:
        ds = pydicom.dcmread(path)
        data = apply_voi_lut(ds.pixel_array, ds)
        if ds.PhotometricInterpretation == "MONOCHROME1":
            data = np.amax(data) - data
        data = data - np.min(data)
        data = data / np.max(data)
        data = (data * 255).astype(np.uint8)
        h, w = data.shape
        scale = SIZE / max(h, w)
        data = cv2.resize(data, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(out / f"{path.stem}.png"), data)
    return time.perf_counter() - start


_RUN_CONVERT = """
import sys, time
from pathlib import Path
from cxrdet.preprocess.convert import ConvertOptions, convert
# warm the imports as the reference was warmed (no OpenCV call: its thread pool must not start before fork)
import pydicom, pydicom.pixels
from cxrdet.preprocess.intensity import grey_lut
first = sorted(Path(sys.argv[1]).iterdir())[0]
grey_lut(pydicom.dcmread(first, stop_before_pixels=True))
start = time.perf_counter()
convert(ConvertOptions(dicom_dir=Path(sys.argv[1]), out=Path(sys.argv[2]), size={size}, workers=int(sys.argv[3]),
                       progress=False))
print(time.perf_counter() - start)
"""


def cxrdet_convert(dicom_dir: Path, out: Path, workers: int) -> float:
    """Seconds of ``convert()`` in a fresh process, as ``cxrdet convert`` runs (interpreter start excluded)."""
    if out.exists():
        shutil.rmtree(out)
    code = _RUN_CONVERT.format(size=SIZE)
    result = subprocess.run(
        [sys.executable, "-c", code, str(dicom_dir), str(out), str(workers)], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def max_difference(reference: Path, ours: Path) -> int:
    worst = 0
    for png in sorted(reference.glob("*.png")):
        a = cv2.imread(str(png), cv2.IMREAD_UNCHANGED).astype(np.int32)
        b = cv2.imread(str(ours / "images" / png.name), cv2.IMREAD_UNCHANGED).astype(np.int32)
        worst = max(worst, int(np.abs(a - b).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "cxrdet-bench-convert")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    print(f"generating/reusing {args.images} DICOMs of 3072x3072 in {args.data} ...", flush=True)
    files = make_data(args.data / "dicom", args.images)
    # warm the page cache and imports so that neither side pays for the first read
    reference_convert(files[:2], args.data / "warm")
    work = args.data / "runs"
    ref_s = reference_convert(files, work / "reference")
    one_s = cxrdet_convert(args.data / "dicom", work / "cxrdet_1", 1)
    many_s = cxrdet_convert(args.data / "dicom", work / f"cxrdet_{args.workers}", args.workers)
    diff_1 = max_difference(work / "reference", work / "cxrdet_1")
    diff_n = max_difference(work / "reference", work / f"cxrdet_{args.workers}")

    n = len(files)
    rows = [
        ("reference recipe (1 process)", 1, ref_s, 1.0, "-"),
        ("cxrdet convert", 1, one_s, ref_s / one_s, diff_1),
        ("cxrdet convert", args.workers, many_s, ref_s / many_s, diff_n),
    ]
    print(f"\n{n} images, 3072x3072, 14/16-bit, half MONOCHROME1, VOI windows -> 8-bit PNG, longest side {SIZE}")
    head = f"| {'method':<30} | workers | {'seconds':>7} | {'img/s':>6} | {'ms/img':>6} | speed-up |"
    print(head + " max diff (grey levels) |")
    print(f"|{'-' * 32}|---------|---------|--------|--------|----------|------------------------|")
    for name, workers, seconds, speedup, diff in rows:
        print(
            f"| {name:<30} | {workers:>7} | {seconds:7.2f} | {n / seconds:6.2f} | {1000 * seconds / n:6.1f} "
            f"| {speedup:7.1f}x | {diff!s:>22} |"
        )
    ok_one = ref_s / one_s >= TARGET_PER_WORKER
    ok_many = ref_s / many_s >= TARGET_ALL_WORKERS
    ok_diff = max(diff_1, diff_n) <= 1
    print(
        f"\ntarget >= {TARGET_PER_WORKER}x per worker: {'PASS' if ok_one else 'FAIL'}; "
        f">= {TARGET_ALL_WORKERS}x with {args.workers} workers: {'PASS' if ok_many else 'FAIL'}; "
        f"within 1 grey level: {'PASS' if ok_diff else 'FAIL'}"
    )
    return 0 if ok_one and ok_many and ok_diff else 1


if __name__ == "__main__":
    sys.exit(main())
