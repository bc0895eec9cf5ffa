"""CLI ``cxrdet validate-submission``: list every problem of a Kaggle submission CSV, with its line."""

from __future__ import annotations

import argparse

HELP = "check a Kaggle submission CSV against the sample submission; prints every problem with its line"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cxrdet validate-submission``."""
    parser.add_argument("file", help="submission CSV (image_id,PredictionString)")
    parser.add_argument("--sample", required=True, help="the competition's sample_submission.csv")
    parser.add_argument(
        "--sizes",
        metavar="FILE",
        help="image sizes (image_id,height,width; convert's meta.csv or a prediction file with sizes "
        "works too) to check that boxes lie inside their images",
    )
    parser.add_argument("--meta", dest="sizes", help=argparse.SUPPRESS)  # old spelling of --sizes


def run(args: argparse.Namespace) -> int:
    """Prints ``FILE: line N: problem`` for each problem; returns 1 if there is any, else 0."""
    from cxrdet.io.sizes import read_sizes
    from cxrdet.submission.validate import validate_submission

    sizes = read_sizes(args.sizes) if args.sizes else None
    problems = validate_submission(args.file, args.sample, sizes=sizes)
    for problem in problems:
        print(f"{args.file}: {problem}")
    print(
        f"{args.file}: {len(problems)} problem{'s' if len(problems) != 1 else ''}"
        + ("" if problems else " - ready to submit")
    )
    return 1 if problems else 0
