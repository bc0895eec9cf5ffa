"""``cxrdet make-example``: write the built-in synthetic VinDr-style dataset (first step of the demo pipeline)."""

from __future__ import annotations

import argparse
import logging
import os

from cxrdet.errors import ConfigError
from cxrdet.example import DEFAULT_CLASSES, SUPPORTED_CLASSES

HELP = "write a small synthetic chest X-ray dataset (DICOM + train.csv) in the Kaggle VinDr layout"

log = logging.getLogger(__name__)


def parse_size(text: str) -> tuple[int, int]:
    """``"768"`` -> (768, 768); ``"1024x832"`` (WIDTHxHEIGHT) -> (rows=832, cols=1024)."""
    parts = text.lower().split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 1:
        return numbers[0], numbers[0]
    if len(numbers) == 2:
        return numbers[1], numbers[0]
    raise argparse.ArgumentTypeError(f"bad size {text!r}: use N or WIDTHxHEIGHT, e.g. 768 or 1024x832")


def parse_classes(text: str) -> tuple[int, ...]:
    """``"0,3,8,10"`` -> (0, 3, 8, 10)."""
    try:
        return tuple(int(c) for c in text.split(",") if c.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad class list {text!r}: use comma-separated ids, e.g. 0,3,8,10") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``make-example``."""
    parser.add_argument("-o", "--out", required=True, help="output folder (created; must be empty unless --overwrite)")
    parser.add_argument("--n-train", type=int, default=80, help="training images")
    parser.add_argument("--n-test", type=int, default=20, help="test images")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed = same bytes")
    parser.add_argument(
        "--image-sizes",
        type=parse_size,
        nargs="+",
        metavar="SIZE",
        help="image sizes to deal out, N or WIDTHxHEIGHT (None: a 512-2048 mix)",
    )
    parser.add_argument(
        "--classes",
        type=parse_classes,
        default=",".join(map(str, DEFAULT_CLASSES)),
        help=f"finding class ids to draw, from {','.join(map(str, SUPPORTED_CLASSES))}",
    )
    parser.add_argument("--normal-fraction", type=float, default=0.3, help="share of 'No finding' images")
    parser.add_argument(
        "--workers", type=int, default=0, help="parallel processes; 0 = min(4, CPUs); the output does not depend on it"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace make-example's files in a non-empty --out folder (other files are kept)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the dataset and log a one-line summary; returns the exit code."""
    from cxrdet.example.make import make_example
    from cxrdet.io.outputs import check_output_dir

    logging.getLogger("openjpeg").setLevel(logging.WARNING)  # it logs every JPEG 2000 tile at INFO
    if args.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {args.workers}")
    check_output_dir(args.out, "--out")
    workers = args.workers or min(4, os.cpu_count() or 1)
    summary = make_example(
        args.out,
        n_train=args.n_train,
        n_test=args.n_test,
        seed=args.seed,
        sizes=args.image_sizes,
        classes=args.classes,
        normal_fraction=args.normal_fraction,
        overwrite=args.overwrite,
        workers=workers,
    )
    log.info(
        "train.csv: %d images, test: %d images, No finding: %d, findings per class: %s",
        len(summary.train_ids),
        len(summary.test_ids),
        summary.n_normal,
        summary.boxes_per_class,
    )
    return 0
