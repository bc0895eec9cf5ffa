"""``cxrdet train``: train a model from a config on its data set (a fold, every fold, all): detectors on a ``cxrdet
convert`` folder, custom models on theirs."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = (
    "train a model from a config (configs/yolo, mmdet, fracture, bone_age, classifier) on its data set; K folds "
    "write OOF predictions"
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cxrdet train``."""
    parser.add_argument(
        "config",
        help="config file, e.g. configs/yolo/yolov5s_1024-e40_vindr.py (a path that does "
        "not exist is looked up among the configs shipped with cxrdet, e.g. yolo/...py)",
    )
    parser.add_argument(
        "--fold",
        type=int,
        action="append",
        metavar="K",
        help="train fold K (repeatable); without --fold/--all-folds: every labelled image ('all')",
    )
    parser.add_argument(
        "--all-folds",
        action="store_true",
        help="train every fold of the converted split in turn (convert --folds K made them)",
    )
    parser.add_argument("--folds", choices=("all",), help=argparse.SUPPRESS)  # old spelling of --all-folds
    add_config_arguments(parser, out=True)
    parser.add_argument("--load-from", help="shortcut for --cfg-options load_from=... (a local checkpoint)")
    parser.add_argument(
        "--device", help="shortcut for the engine's device option (YOLO: ultralytics.device: cpu, 0, 0,1)"
    )
    parser.add_argument(
        "--launcher",
        choices=("none", "pytorch"),
        default="none",
        help="job launcher: pytorch = data-parallel under torchrun (mmengine engines; gloo on CPU)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        metavar="CHECKPOINT",
        help="continue an interrupted run: without a value (or 'auto') each split from its last "
        "checkpoint; with a path, from that checkpoint (one --fold)",
    )


def add_config_arguments(parser: argparse.ArgumentParser, out: bool = False) -> None:
    """``--cfg-options``, ``--data-root`` and ``--work-dir`` (shared by train and test).

    ``out``: the command writes its run there (train), so the option is ``-o/--out`` (``--work-dir`` hidden).
    """
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override config keys, dotted for nested ones (ultralytics.epochs=5); unknown keys "
        "are rejected. Order: defaults < config file < these",
    )
    parser.add_argument("--data-root", help="shortcut for --cfg-options data_root=... (a cxrdet convert folder)")
    if out:
        parser.add_argument(
            "-o",
            "--out",
            dest="work_dir",
            metavar="DIR",
            help="run folder: weights, OOF predictions, resolved config (shortcut for --cfg-options "
            "work_dir=...; None: work_dirs/<config name>)",
        )
        parser.add_argument("--work-dir", dest="work_dir", help=argparse.SUPPRESS)  # old spelling of --out
    else:
        parser.add_argument(
            "--work-dir", help="shortcut for --cfg-options work_dir=... (None: work_dirs/<config name>)"
        )


def engine_from(args: argparse.Namespace):
    """The engine the config names, with ``--cfg-options`` < the shortcut flags applied."""
    from cxrdet.config import merge, parse_options, resolve_path
    from cxrdet.engines.base import engine_class_of_config

    path = resolve_path(args.config)
    options = parse_options(args.cfg_options)
    if getattr(args, "launcher", "none") != "none":
        options["launcher"] = args.launcher
    cls = engine_class_of_config(path, options)
    flags = cls.flag_options(
        data_root=getattr(args, "data_root", None),
        work_dir=getattr(args, "work_dir", None),
        load_from=getattr(args, "load_from", None),
        device=getattr(args, "device", None),
    )
    return cls.from_config(path, merge(options, flags))


def run(args: argparse.Namespace) -> int:
    """Resolves the config, trains each split and prints where the weights and OOF files are."""
    engine = engine_from(args)
    splits = engine.select_splits(args.fold, "all" if args.all_folds or args.folds == "all" else None)
    results = engine.train(splits, resume=args.resume)
    metric = results[0].metric if results else "score"
    width = max(14, len(metric))
    print(f"{'split':<8} {metric:>{width}} {'time':>8}  best weights")
    for r in results:
        value = "-" if r.score is None else f"{r.score:.4f}"
        print(f"{r.split:<8} {value:>{width}} {r.seconds:>7.0f}s  {r.best}")
    oofs = [str(r.oof) for r in results if r.oof]
    if oofs:
        print("out-of-fold predictions: " + " ".join(oofs))
    combined = engine.work_dir / "oof.csv"
    if oofs and combined.is_file():
        print(f"all folds: {combined} (for cxrdet tune-ensemble --gt <train.csv>)")
    curves = sorted(Path(engine.work_dir).glob("*/training_curves.png"))
    if curves:
        print("training curves: " + " ".join(str(c) for c in curves))
    print(f"resolved config: {Path(engine.work_dir) / 'config.py'}")
    return 0
