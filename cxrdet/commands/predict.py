"""``cxrdet predict``: a trained checkpoint over DICOMs or converted PNGs -> predictions in ORIGINAL DICOM pixels."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = (
    "predict a folder of DICOMs (or converted PNGs) with a trained checkpoint (a YOLO .pt alone, or CONFIG "
    "CHECKPOINT); boxes in original DICOM pixels"
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cxrdet predict``."""
    parser.add_argument("model", help="a local .pt written by cxrdet train (best.pt), or the config of CHECKPOINT")
    parser.add_argument("checkpoint", nargs="?", help="the checkpoint, when MODEL is its config")
    parser.add_argument(
        "--source",
        required=True,
        help="folder of .dcm/.dicom files, a cxrdet convert folder (or its images/), or a "
        "list of its PNGs (e.g. yolo/fold0/val.txt)",
    )
    parser.add_argument(
        "-o",
        "--out",
        required=True,
        type=Path,
        help="prediction file to write (.csv/.parquet; a segmentation model's masks go to OUT_masks/)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--tta", action="store_true", help="add the horizontal flip, merged with WBF")
    parser.add_argument("--tta-iou", type=float, help="WBF IoU of the TTA merge (None: 0.4)")
    parser.add_argument(
        "--conf", type=float, help="score threshold (None: 0.001; low-score boxes never lower VinDr mAP)"
    )
    parser.add_argument("--iou", type=float, help="NMS IoU (None: 0.7, Ultralytics')")
    parser.add_argument("--max-det", type=int, help="boxes per image at most (None: 300)")
    parser.add_argument("--imgsz", type=int, help="model input size (None: the training size)")
    parser.add_argument(
        "--png-size",
        type=int,
        help="longest side of the training PNGs (None: recorded in the checkpoint by cxrdet train)",
    )
    parser.add_argument("--bit-depth", type=int, choices=(8, 16), help="bit depth of the training PNGs")
    parser.add_argument("--batch", type=int, help="images per forward pass (None: 4)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="crash-isolated decoding processes running beside the model (None: cores - 1, "
        "1 to 4; 0 = decode in the main process, without crash isolation)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds one image may take to decode before its worker is stopped"
    )
    parser.add_argument("--device", help="cpu, 0, cuda:0 ... (None: a GPU if there is one)")
    parser.add_argument("--half", action="store_true", help="FP16 inference (GPU)")
    parser.add_argument(
        "--no-finding",
        action="store_true",
        help="append the data set's 'no finding' class per image (VinDr: '14 p 0 0 1 1'), p = 1 - "
        "its highest score (detector-only normality); only for a data set with such a class",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.epilog = (
        "Options not given (None) come from the config's predict section (CONFIG CHECKPOINT), else "
        "the values named in their help."
    )


def _engine(args: argparse.Namespace):
    """The engine and checkpoint: ``MODEL`` alone is a checkpoint that carries its settings; else a config."""
    from cxrdet.config import resolve_path
    from cxrdet.engines.base import engine_of_checkpoint, engine_of_config

    if args.checkpoint is None:
        return engine_of_checkpoint(args.model), args.model
    return engine_of_config(resolve_path(args.model)), args.checkpoint


def _check_no_finding(checkpoint, meta) -> None:
    """``--no-finding`` needs a class list with a "no finding" class (None: not known yet)."""
    from cxrdet.errors import ConfigError

    if meta is not None and meta.no_finding is None:
        raise ConfigError(
            f"--no-finding: {checkpoint} predicts a data set without a 'no finding' class "
            f"(classes: {', '.join(meta.classes)}); drop --no-finding"
        )


def _report_failures(failures: dict[str, str], failures_file, listed: str) -> int:
    """Prints how many images could not be read (and the first reason); 1 when some could not, else 0."""
    if not failures:
        return 0
    first = next(iter(failures.items()))
    print(
        f"{len(failures)} images could not be read: {listed}, reasons in {failures_file} "
        f"(first: {first[0]}: {first[1]})"
    )
    return 1


def _write_masks(args: argparse.Namespace, rows):
    """A segmentation model's masks -> ``OUT_masks/<image_id>.png`` (label PNGs in each file's size); the rows
    without the in-memory masks, with each image's ``mask`` file (relative to the rows file's folder)."""
    import numpy as np

    from cxrdet.engines.runner.seg_masks import MASK_COLUMN, masks_folder, write_masks

    if MASK_COLUMN not in rows.columns:
        return rows
    folder = masks_folder(args.out)
    masks = {str(i): m for i, m in zip(rows["image_id"], rows[MASK_COLUMN]) if isinstance(m, np.ndarray)}
    write_masks(folder, masks, overwrite=args.overwrite)
    rows = rows.drop(columns=[MASK_COLUMN])
    rows["mask"] = [f"{folder.name}/{i}.png" if str(i) in masks else "" for i in rows["image_id"]]
    print(f"wrote {len(masks)} masks (each image's own size) to {folder}")
    return rows


def _write_rows(args: argparse.Namespace, items, result) -> int:
    """Image-level predictions (classifiers, bone age, segmentation): one CSV row per image (and a segmentation's
    masks beside it); 1 when some image was not read."""
    from cxrdet.errors import ConfigError
    from cxrdet.io.atomic import write_csv
    from cxrdet.io.failures import write_failures

    if args.no_finding:
        raise ConfigError("--no-finding appends a detector's 'no finding' box; this model predicts per image")
    if args.out.suffix.lower() != ".csv":
        raise ConfigError(f"--out {args.out}: image-level predictions are written as .csv")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.rows = _write_masks(args, result.rows)
    write_csv(args.out, result.rows)
    failures_file = write_failures(args.out, result.failures)
    n = len(items)
    print(
        f"predicted {n} images in {result.seconds:.1f} s ({n / max(result.seconds, 1e-9):.1f} img/s): "
        f"{', '.join(c for c in result.rows.columns if c != 'image_id')} -> {args.out}"
    )
    return _report_failures(result.failures, failures_file, "listed without values")


def run(args: argparse.Namespace) -> int:
    """Predicts, writes the file and its ``OUT.classes.json`` (the checkpoint's class list), prints a summary;
    returns 1 when some image could not be read."""
    from cxrdet.engines.no_finding import append_no_finding
    from cxrdet.errors import ConfigError
    from cxrdet.io.failures import write_failures
    from cxrdet.io.metainfo import write_companion
    from cxrdet.io.outputs import check_output_file
    from cxrdet.io.predictions import write_predictions

    check_output_file(args.out, [args.model, args.checkpoint, args.source], overwrite=args.overwrite)
    if (
        (args.conf is not None and not 0.0 <= args.conf < 1.0)
        or (args.iou is not None and not 0.0 < args.iou <= 1.0)
        or (args.max_det is not None and args.max_det < 1)
        or (args.batch is not None and args.batch < 1)
    ):
        raise ConfigError("need 0 <= --conf < 1, 0 < --iou <= 1, --max-det >= 1 and --batch >= 1")
    engine, checkpoint = _engine(args)
    if args.no_finding:
        _check_no_finding(checkpoint, engine.checkpoint_meta(checkpoint))
    items = engine.sources(args.source)
    result = engine.predict(
        checkpoint,
        items,
        imgsz=args.imgsz,
        png_size=args.png_size,
        bit_depth=args.bit_depth,
        conf=args.conf,
        iou=args.iou,
        max_det=args.max_det,
        tta=True if args.tta else None,
        tta_iou=args.tta_iou,
        batch=args.batch,
        workers=args.workers,
        timeout=args.timeout,
        device=args.device,
        half=args.half,
        progress=not args.no_progress,
    )
    if result.rows is not None:
        return _write_rows(args, items, result)
    if args.no_finding:
        _check_no_finding(checkpoint, result.meta)
    table = append_no_finding(result.table, result.meta) if args.no_finding else result.table
    write_predictions(table, args.out)
    write_companion(args.out, result.meta)
    failures_file = write_failures(args.out, result.failures)
    n = len(items)
    tta = args.tta or bool(engine.cfg.get("predict", {}).get("tta"))
    print(
        f"predicted {n} images ({'DICOM' if items[0].kind == 'dicom' else 'PNG'}, imgsz "
        f"{result.settings['imgsz']}{', hflip TTA + WBF' if tta else ''}) in {result.seconds:.1f} s "
        f"({n / max(result.seconds, 1e-9):.1f} img/s): {len(table)} boxes -> {args.out}"
    )
    return _report_failures(result.failures, failures_file, "listed without boxes")
