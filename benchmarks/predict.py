"""Benchmark: ``cxrdet predict`` on a folder of DICOMs vs plain Ultralytics ``predict`` on the same images as PNGs.

Generates 3072x3072 chest-like DICOMs (as ``benchmarks/convert.py``), converts them once with ``cxrdet
convert --size 1024`` (not timed), writes a YOLOv5u checkpoint (random weights unless ``--weights``), then
times, in one run and with the same model, size, confidence, NMS IoU and batch 1:

* plain Ultralytics: ``YOLO(weights).predict(source=<PNG folder>, stream=True)``;
  (both timed from loading the checkpoint to the last image, after a warm-up run of each)
* ``cxrdet predict`` on the DICOMs (decoded in a DataLoader worker while the model runs);
* ``cxrdet predict`` on the DICOMs with the decode in the main process (``workers=0``), for reference;
* the DICOM decode + preprocessing alone.

It prints images per second and the ratio to Ultralytics (target >= 0.9: the DICOM decode hidden behind
inference), and the largest box difference between the two paths in DICOM pixels when there are boxes.

    .venv/bin/python benchmarks/predict.py [--images 24] [--model yolov5n] [--imgsz 1024] [--data DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET = 0.9
HERE = Path(__file__).resolve().parent


def _convert_benchmark():
    spec = importlib.util.spec_from_file_location("bench_convert", HERE / "convert.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recode(files: list[Path], folder: Path, syntax: str) -> Path:
    """The same images re-encoded with another (lossless) transfer syntax, cached in ``folder``."""
    import pydicom

    from cxrdet.example.dicom_writer import write_dicom

    folder.mkdir(parents=True, exist_ok=True)
    for i, src in enumerate(files):
        dest = folder / src.name
        if dest.exists():
            continue
        ds = pydicom.dcmread(src)
        write_dicom(
            dest,
            ds.pixel_array,
            bits_stored=int(ds.BitsStored),
            photometric=ds.PhotometricInterpretation,
            window=(float(ds.WindowCenter), float(ds.WindowWidth)),
            transfer_syntax=syntax,
            uid_seed=i,
            verify=False,
        )
    return folder


def prepare(
    data: Path, n: int, imgsz: int, model: str, weights: Path | None, syntax: str = "explicit"
) -> tuple[Path, Path, Path]:
    """DICOM folder, converted folder and checkpoint (cached in ``data``)."""
    from cxrdet.engines.yolo.checkpoints import untrained_checkpoint
    from cxrdet.engines.yolo.config import resolve_config
    from cxrdet.preprocess.convert import ConvertOptions, convert

    dicoms = data / f"dicom_{n}"
    files = _convert_benchmark().make_data(dicoms, n)
    if syntax != "explicit":
        dicoms = recode(files, data / f"dicom_{n}_{syntax}", syntax)
    pngs = data / f"png_{n}_{imgsz}"
    convert(ConvertOptions(dicom_dir=dicoms, out=pngs, size=imgsz, workers=2, progress=False))
    if weights is None:
        cfg = resolve_config(None, {"model": model, "ultralytics": {"imgsz": imgsz}})
        weights = untrained_checkpoint(cfg, data / f"{model}_{imgsz}_untrained.pt", png_size=imgsz)
    return dicoms, pngs, weights


def run_ultralytics(weights: Path, pngs: Path, imgsz: int, conf: float, iou: float) -> tuple[float, dict]:
    """Plain Ultralytics predict over the PNG folder (inside cxrdet's offline sandbox); seconds and boxes."""
    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    with tempfile.TemporaryDirectory() as tmp, ultralytics_sandbox(tmp):
        from ultralytics import YOLO

        first = str(next(iter(sorted((pngs / "images").glob("*.png")))))
        list(YOLO(str(weights), task="detect").predict(source=first, imgsz=imgsz, verbose=False))  # warm-up
        start = time.perf_counter()  # like cxrdet's timing: model load + the whole folder
        model = YOLO(str(weights), task="detect")
        boxes = {
            Path(r.path).stem: r.boxes.xyxy.cpu().numpy()
            for r in model.predict(
                source=str(pngs / "images"), imgsz=imgsz, conf=conf, iou=iou, batch=1, stream=True, verbose=False
            )
        }
        return time.perf_counter() - start, boxes


def run_cxrdet(weights: Path, dicoms: Path, conf: float, iou: float, workers: int):
    from cxrdet.engines.yolo.predict import PredictOptions, predict
    from cxrdet.io.sources import find_sources

    items = find_sources(dicoms)
    opts = PredictOptions(conf=conf, iou=iou, batch=1, workers=workers, progress=False)
    predict(weights, items[:1], opts)  # warm-up (model load, first forward)
    result = predict(weights, items, opts)
    return result.seconds, result.table


def run_decode(dicoms: Path, size: int) -> float:
    from cxrdet.engines.yolo.frames import read_dicom_png_frame

    start = time.perf_counter()
    for path in sorted(dicoms.glob("*.dicom")):
        read_dicom_png_frame(path, size)
    return time.perf_counter() - start


def box_difference(reference: dict, table, pngs: Path) -> float | None:
    """Largest coordinate difference (DICOM pixels) between Ultralytics' boxes (PNG frame, mapped) and cxrdet's."""
    import pandas as pd

    meta = pd.read_csv(pngs / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    worst = None
    for image_id, boxes in reference.items():
        ours = table.boxes[table.boxes["image_id"] == image_id][["x_min", "y_min", "x_max", "y_max"]].to_numpy()
        scale = meta.loc[image_id, ["scale_x", "scale_y", "scale_x", "scale_y"]].to_numpy(float)
        if len(boxes) != len(ours):
            return float("inf")
        if len(boxes):
            diff = np.abs(np.sort(boxes / scale, axis=0) - np.sort(ours, axis=0)).max()
            worst = diff if worst is None else max(worst, diff)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--model", default="yolov5n", help="yolov5n/s/m/l/x (random weights)")
    parser.add_argument("--weights", type=Path, help="a trained checkpoint instead (trained at --imgsz)")
    parser.add_argument("--imgsz", type=int, default=1024, help="model input = PNG size")
    parser.add_argument("--conf", type=float, default=0.001)
    parser.add_argument("--iou", type=float, default=0.7)
    parser.add_argument(
        "--syntax",
        default="explicit",
        choices=("explicit", "rle", "jpegls", "j2k"),
        help="DICOM transfer syntax (default explicit: uncompressed, as most VinBigData files)",
    )
    parser.add_argument("--data", type=Path, help="cache folder for the generated data (default: a temp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("openjpeg").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp)
        dicoms, pngs, weights = prepare(data, args.images, args.imgsz, args.model, args.weights, args.syntax)
        n = args.images
        t_ul, reference = run_ultralytics(weights, pngs, args.imgsz, args.conf, args.iou)
        t_cx, table = run_cxrdet(weights, dicoms, args.conf, args.iou, workers=1)
        t_cx0, _ = run_cxrdet(weights, dicoms, args.conf, args.iou, workers=0)
        t_dec = run_decode(dicoms, args.imgsz)
        diff = box_difference(reference, table, pngs)
    rows = [
        ("Ultralytics predict, PNG folder", t_ul),
        ("cxrdet predict, DICOM folder (1 decode worker)", t_cx),
        ("cxrdet predict, DICOM folder (decode in main process)", t_cx0),
        ("DICOM decode + preprocess only (1 process)", t_dec),
    ]
    model = args.weights.name if args.weights else f"{args.model} (YOLOv5u)"
    print(
        f"{args.images} DICOMs of 3072x3072 px ({args.syntax}) -> {model} at {args.imgsz} px, conf {args.conf}, "
        f"batch 1, torch threads as Ultralytics sets them"
    )
    print(f"{'path':<55} {'seconds':>8} {'img/s':>7} {'vs Ultralytics':>15}")
    for name, seconds in rows:
        ratio = f"{t_ul / seconds:.2f}x" if "predict" in name else "-"
        print(f"{name:<55} {seconds:>8.2f} {n / seconds:>7.2f} {ratio:>15}")
    print(
        f"boxes: {len(table)} from cxrdet; largest difference to Ultralytics' (DICOM pixels): "
        f"{'no boxes to compare' if diff is None else f'{diff:.3g}'}"
    )
    ratio = t_ul / t_cx
    print(
        f"cxrdet DICOM / Ultralytics PNG throughput: {ratio:.2f}x (target >= {TARGET}x): "
        f"{'OK' if ratio >= TARGET else 'BELOW TARGET'}"
    )
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
