"""``cxrdet convert``: VinDr DICOM folder (+ train.csv) -> PNG cache, meta.csv, fused labels, folds, COCO, YOLO."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert a folder of DICOMs (+ VinDr train.csv) into PNGs, COCO/YOLO datasets and K folds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dicom-dir", type=Path, required=True, help="folder of .dicom/.dcm files")
    parser.add_argument("--labels", type=Path, help="VinDr train.csv (omit for test images)")
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        required=True,
        help="output folder (new, or an earlier run's: only new or changed DICOMs are decoded); "
        "never the --dicom-dir folder or inside it",
    )
    parser.add_argument("--size", type=int, default=1024, help="longest side of the PNGs; 0 = original")
    parser.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="PNG bit depth")
    parser.add_argument(
        "--fuse",
        choices=("none", "wbf", "nms"),
        default="wbf",
        help="how to merge the radiologists' boxes (wbf: the winners' recipe)",
    )
    parser.add_argument("--fuse-iou", type=float, default=0.4, help="IoU at which readers agree")
    parser.add_argument("--folds", type=int, default=0, help="K for multilabel-stratified K-fold (0 = none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold split")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (None: all cores)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds one file may take to decode before its worker is stopped"
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="decode again the files that failed in an earlier run (without it, unchanged files "
        "that failed are reported again, not decoded again)",
    )
    parser.add_argument(
        "--pseudonymize",
        action="store_true",
        help="name every image by a salted hash of its file name (file names are often record "
        "or accession numbers); the mapping goes to --pseudonym-map",
    )
    parser.add_argument(
        "--pseudonym-map",
        type=Path,
        help="file that keeps the salt and the pseudonym -> file name mapping, outside --out "
        "(None: <out>.pseudonyms.json beside the output folder); keep it private",
    )
    parser.add_argument(
        "--group-by",
        choices=("none", "patient", "study"),
        default="none",
        help="keep all images of one patient (PatientID) or study (StudyInstanceUID) in one fold; "
        "the identifiers are only ever handled as an HMAC under a random key of this run",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from cxrdet.io.outputs import check_output_dir
    from cxrdet.preprocess.convert import ConvertOptions, convert, default_workers

    check_output_dir(args.out, "--out", [args.dicom_dir, args.labels])

    opts = ConvertOptions(
        dicom_dir=args.dicom_dir,
        out=args.out,
        labels=args.labels,
        size=args.size,
        bit_depth=args.bit_depth,
        fuse=args.fuse,
        iou_thr=args.fuse_iou,
        folds=args.folds,
        seed=args.seed,
        workers=default_workers() if args.workers is None else args.workers,
        progress=not args.no_progress,
        timeout=args.timeout,
        retry_failed=args.retry_failed,
        pseudonymize=args.pseudonymize,
        pseudonym_map=args.pseudonym_map,
        group_by=args.group_by,
    )
    summary = convert(opts)
    print("\n".join(summary.lines()))
    if opts.pseudonymize:
        print(f"pseudonym map     {opts.map_path()}  (keep it private: it reverses the image ids)")
    return 1 if summary.failed else 0
