"""``cxrdet demo``: the main job on the built-in example: make-example -> convert (train with folds, test)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "run the pipeline on the built-in synthetic example (make-example -> convert) and print a summary"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="working folder")
    parser.add_argument("--n-train", type=int, default=80, help="labelled example images")
    parser.add_argument("--n-test", type=int, default=20, help="test example images")
    parser.add_argument("--size", type=int, default=512, help="PNG longest side")
    parser.add_argument("--folds", type=int, default=2, help="K folds of the training images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the example and the folds")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")


def _example(args: argparse.Namespace, root: Path, workers: int):
    from cxrdet.example.make import make_example

    if (root / "example_info.json").exists():
        log.info("reusing the example in %s", root)
        return None
    logging.getLogger("openjpeg").setLevel(logging.WARNING)
    return make_example(root, n_train=args.n_train, n_test=args.n_test, seed=args.seed, workers=workers)


def run(args: argparse.Namespace) -> int:
    from cxrdet.preprocess.convert import ConvertOptions, convert, default_workers

    workers = args.workers or default_workers()
    example = args.out / "example"
    made = _example(args, example, workers)
    if made is not None:
        print(f"[1/2] make-example: {len(made.train_ids)} train + {len(made.test_ids)} test DICOMs, "
              f"{made.n_normal} without findings, findings per class {made.boxes_per_class} "
              f"({made.seconds:.1f} s) -> {example}")
    common = dict(size=args.size, workers=workers, progress=False)
    train = convert(ConvertOptions(dicom_dir=example / "train", labels=example / "train.csv",
                                   out=args.out / "data" / "train", folds=args.folds, seed=args.seed, **common))
    test = convert(ConvertOptions(dicom_dir=example / "test", out=args.out / "data" / "test", **common))
    print("[2/2] convert train:")
    print("\n".join("      " + line for line in train.lines()))
    print("      convert test:")
    print("\n".join("      " + line for line in test.lines()))
    return 1 if train.failed or test.failed else 0
