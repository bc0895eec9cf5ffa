"""``cxrdet ensemble``: fuse several models' prediction files (WBF / NMS / soft-NMS / NMW) into one file."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "fuse several prediction files (original pixels) into one: WBF, NMS, soft-NMS or NMW"

log = logging.getLogger(__name__)


def add_fusion_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``ensemble`` and ``tune-ensemble``: inputs, sizes, missing images, method."""
    parser.add_argument(
        "preds",
        nargs="+",
        type=Path,
        metavar="PRED",
        help="prediction files (CSV/parquet, Kaggle CSV) in original pixels, one per model",
    )
    parser.add_argument(
        "--hflip",
        action="append",
        type=Path,
        default=[],
        metavar="PRED",
        help="predictions made on horizontally flipped images (mapped back, then fused as "
        "one more model; repeatable; weights follow PRED files, then these)",
    )
    parser.add_argument("--method", choices=("wbf", "nms", "soft_nms", "nmw"), default="wbf", help="fusion method")
    parser.add_argument(
        "--missing",
        choices=("error", "empty"),
        default="error",
        help="an image absent from some file: error, or treat it as having no boxes",
    )
    parser.add_argument(
        "--sizes",
        type=Path,
        metavar="FILE",
        help="CSV image_id,height,width (or original_height,"
        "original_width, e.g. convert's meta.csv) for files without size columns",
    )
    parser.add_argument(
        "--unknown-size",
        choices=("error", "max"),
        default="error",
        help="image of unknown size: error, or normalise by its largest coordinate",
    )
    parser.add_argument(
        "--conf-type",
        default="avg",
        choices=("avg", "max", "box_and_model_avg", "absent_model_aware_avg"),
        help="WBF confidence of a fused box",
    )
    parser.add_argument(
        "--allows-overflow",
        action="store_true",
        help="WBF avg: let a box found by more boxes than models score above 1",
    )
    parser.add_argument("--sigma", type=float, default=0.5, help="soft-NMS gaussian sigma")
    parser.add_argument("--thresh", type=float, default=0.001, help="soft-NMS: keep decayed scores above this")
    parser.add_argument(
        "--soft-method", choices=("linear", "gaussian"), default="gaussian", help="soft-NMS score decay"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_fusion_arguments(parser)
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        required=True,
        help="output: .csv/.parquet prediction file, or a Kaggle CSV with --format kaggle",
    )
    parser.add_argument("--weights", type=float, nargs="+", help="one weight per model (None: all 1)")
    parser.add_argument(
        "--iou-thr", type=float, default=0.4, help="fusion IoU: boxes overlapping more are clustered / suppressed"
    )
    parser.add_argument("--skip-box-thr", type=float, default=0.0, help="ignore boxes scoring below this (wbf, nmw)")
    parser.add_argument(
        "--format",
        choices=("predictions", "kaggle"),
        default="predictions",
        help="write a prediction file or a Kaggle submission CSV",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists (never one of the input files)"
    )


def load_inputs(args: argparse.Namespace):
    """Reads the prediction files (flipped ones mapped back), the optional sizes file and the class list.

    The class list comes from the files' ``PRED.classes.json`` (or their folder's ``classes.json``); VinDr
    when they have none.
    """
    from cxrdet.ensemble.tta import deaugment_table
    from cxrdet.io.metainfo import meta_for
    from cxrdet.io.predictions import read_table
    from cxrdet.io.sizes import read_sizes

    meta = meta_for([*args.preds, *args.hflip])
    sizes = read_sizes(args.sizes) if args.sizes else None
    tables = [read_table(p, meta=meta) for p in args.preds]
    tables += [deaugment_table(read_table(p, meta=meta), "h", sizes, meta) for p in args.hflip]
    return tables, sizes, meta


def fusion_options(args: argparse.Namespace) -> dict:
    """Method options taken from the command line (thresholds and weights excluded)."""
    return dict(
        conf_type=args.conf_type,
        allows_overflow=args.allows_overflow,
        sigma=args.sigma,
        thresh=args.thresh,
        soft_method=1 if args.soft_method == "linear" else 2,
    )


def run(args: argparse.Namespace) -> int:
    from cxrdet.ensemble.fuse import ensemble_tables
    from cxrdet.io.metainfo import write_companion
    from cxrdet.io.outputs import check_output_file
    from cxrdet.io.prediction_strings import write_kaggle
    from cxrdet.io.predictions import write_predictions

    check_output_file(args.out, [*args.preds, *args.hflip, args.sizes], overwrite=args.overwrite)
    tables, sizes, meta = load_inputs(args)
    fused = ensemble_tables(
        tables,
        args.method,
        args.weights,
        args.iou_thr,
        args.skip_box_thr,
        missing=args.missing,
        sizes=sizes,
        unknown_size=args.unknown_size,
        meta=meta,
        **fusion_options(args),
    )
    if args.format == "kaggle":
        write_kaggle(fused, args.out)
    else:
        write_predictions(fused, args.out)
    write_companion(args.out, meta)
    print(
        f"{args.method}: {sum(len(t) for t in tables)} boxes from {len(tables)} files -> {len(fused)} boxes "
        f"on {len(fused.images)} images -> {args.out}"
    )
    return 0
