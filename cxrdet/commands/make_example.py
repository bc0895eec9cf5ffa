"""``cxrdet make-example``: write a built-in synthetic data set (first step of the demo and example pipelines).

``--task vindr`` (the default): VinDr-style chest DICOMs + labels for the detectors; ``--task bone-age``: hand
phantoms in the RSNA bone age layout for TJ-Net; ``--task fracture``: normal/fractured bone CT slices in class
folders for the fracture CNNs; ``--task gastric``: endoscopy-like views with lesion masks and normal/EGC labels
(GAIN, CA-U-Net); ``--task imbalanced``: a six-class chest set with a 10:1 imbalance and a balanced test set
(the feature-level GAN).
"""

from __future__ import annotations

import argparse
import logging
import os

from cxrdet.errors import ConfigError
from cxrdet.example import DEFAULT_CLASSES, SUPPORTED_CLASSES, TASKS

HELP = (
    "write a small synthetic data set: chest X-ray DICOMs + train.csv in the Kaggle VinDr layout (default), "
    "hand radiographs in the RSNA bone age layout, bone CT slices in normal/fractured class folders, endoscopy views "
    "with lesion masks, or an imbalanced six-class chest set"
)
# --task vindr's own options and their defaults (other tasks refuse them when changed)
VINDR_DEFAULTS = {
    "n_train": 80,
    "n_test": 20,
    "image_sizes": None,
    "classes": DEFAULT_CLASSES,
    "normal_fraction": 0.3,
}

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
    parser.add_argument(
        "--task",
        choices=TASKS,
        default="vindr",
        help="which data set: VinDr chest DICOMs (detectors), RSNA-style hands (bone age), class folders of "
        "bone CT slices (fracture), endoscopy views + masks (gastric: GAIN, CA-U-Net) or a 10:1 imbalanced "
        "six-class chest set (imbalanced: feature GAN)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed = same bytes")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace make-example's files in a non-empty --out folder (other files are kept)",
    )
    vindr = parser.add_argument_group("--task vindr")
    vindr.add_argument("--n-train", type=int, default=VINDR_DEFAULTS["n_train"], help="training images")
    vindr.add_argument("--n-test", type=int, default=VINDR_DEFAULTS["n_test"], help="test images")
    vindr.add_argument(
        "--image-sizes",
        type=parse_size,
        nargs="+",
        metavar="SIZE",
        help="image sizes to deal out, N or WIDTHxHEIGHT (None: a 512-2048 mix)",
    )
    vindr.add_argument(
        "--classes",
        type=parse_classes,
        default=",".join(map(str, DEFAULT_CLASSES)),
        help=f"finding class ids to draw, from {','.join(map(str, SUPPORTED_CLASSES))}",
    )
    vindr.add_argument(
        "--normal-fraction", type=float, default=VINDR_DEFAULTS["normal_fraction"], help="share of 'No finding' images"
    )
    vindr.add_argument(
        "--workers", type=int, default=0, help="parallel processes; 0 = min(4, CPUs); the output does not depend on it"
    )
    other = parser.add_argument_group("--task bone-age / fracture / gastric / imbalanced")
    other.add_argument(
        "--n",
        type=int,
        help="bone-age: images; fracture: images per class; gastric: images (half EGC); imbalanced: training images "
        "of each majority class (None: the task's own, 200 hands / 40 per class / 64 / 60)",
    )
    other.add_argument(
        "--size", type=int, help="side of the square images in pixels (None: 128; imbalanced: 160, the write-up's)"
    )


def _check_task_options(args: argparse.Namespace) -> None:
    """Refuse options that belong to another task than ``--task``."""
    if args.task == "vindr":
        given = [f"--{name}" for name in ("n", "size") if getattr(args, name) is not None]
        if given:
            raise ConfigError(
                f"{', '.join(given)} apply to --task bone-age, fracture, gastric and imbalanced; --task vindr has "
                "--n-train, --n-test and --image-sizes"
            )
        return
    changed = [
        "--" + name.replace("_", "-") for name, default in VINDR_DEFAULTS.items() if getattr(args, name) != default
    ]
    if changed:
        raise ConfigError(f"{', '.join(changed)} apply to --task vindr only; --task {args.task} takes --n and --size")


def _run_bone_age(args: argparse.Namespace) -> None:
    from cxrdet.example.bone_age import DEFAULT_N, DEFAULT_SIZE, make_bone_age_example

    summary = make_bone_age_example(
        args.out,
        n=DEFAULT_N if args.n is None else args.n,
        seed=args.seed,
        size=DEFAULT_SIZE if args.size is None else args.size,
        overwrite=args.overwrite,
    )
    ages = summary.ages
    log.info(
        "%s: %d hands (%d boys), ages %d-%d months, images in %s/",
        summary.csv_path.name,
        len(ages),
        sum(summary.males),
        min(ages),
        max(ages),
        summary.image_dir.name,
    )


def _run_fracture(args: argparse.Namespace) -> None:
    from cxrdet.example.fracture import DEFAULT_N_PER_CLASS, DEFAULT_SIZE, make_fracture_example

    summary = make_fracture_example(
        args.out,
        n_per_class=DEFAULT_N_PER_CLASS if args.n is None else args.n,
        seed=args.seed,
        size=DEFAULT_SIZE if args.size is None else args.size,
        overwrite=args.overwrite,
    )
    log.info(
        "class folders: %s, %d patients in patients.csv",
        ", ".join(f"{name}/: {len(ids)} images" for name, ids in summary.images.items()),
        len(set(summary.patients.values())),
    )


def _run_gastric(args: argparse.Namespace) -> None:
    from cxrdet.example.gastric import DEFAULT_N, DEFAULT_SIZE, make_gastric_example

    summary = make_gastric_example(
        args.out,
        n=DEFAULT_N if args.n is None else args.n,
        seed=args.seed,
        size=DEFAULT_SIZE if args.size is None else args.size,
        overwrite=args.overwrite,
    )
    egc = [i for i, label in summary.labels.items() if label == "egc"]
    log.info(
        "labels.csv: %d views (%d EGC, %d normal), masks/ and images/ at %d px",
        len(summary.labels),
        len(egc),
        len(summary.labels) - len(egc),
        summary.size,
    )


def _run_imbalanced(args: argparse.Namespace) -> None:
    from cxrdet.example.imbalanced import DEFAULT_N_MAJOR, DEFAULT_SIZE, make_imbalanced_example

    summary = make_imbalanced_example(
        args.out,
        n_per_class_major=DEFAULT_N_MAJOR if args.n is None else args.n,
        seed=args.seed,
        size=DEFAULT_SIZE if args.size is None else args.size,
        overwrite=args.overwrite,
    )
    log.info(
        "train.csv: %s; test.csv (balanced): %d images a class; minority: %s",
        ", ".join(f"{name} {count}" for name, count in summary.train_counts.items()),
        min(summary.test_counts.values()),
        ", ".join(summary.minority),
    )


TASK_WRITERS = {
    "bone-age": _run_bone_age,
    "fracture": _run_fracture,
    "gastric": _run_gastric,
    "imbalanced": _run_imbalanced,
}


def run(args: argparse.Namespace) -> int:
    """Write the task's data set and log a one-line summary; returns the exit code."""
    from cxrdet.example.make import make_example
    from cxrdet.io.outputs import check_output_dir

    _check_task_options(args)
    check_output_dir(args.out, "--out")
    if args.task in TASK_WRITERS:
        TASK_WRITERS[args.task](args)
        return 0
    logging.getLogger("openjpeg").setLevel(logging.WARNING)  # it logs every JPEG 2000 tile at INFO
    if args.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {args.workers}")
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
