"""``cxrdet train``: train a detector from a config on a ``cxrdet convert`` folder (a fold, every fold, all)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "train a detector from a config (configs/yolo/*.py) on a converted dataset; K folds write OOF predictions"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cxrdet train``."""
    parser.add_argument("config", help="config file, e.g. configs/yolo/yolov5s_1024-e40_vindr.py")
    parser.add_argument("--fold", type=int, action="append", metavar="K",
                        help="train fold K (repeatable); without --fold/--folds: every labelled image ('all')")
    parser.add_argument("--folds", metavar="all", help="'all': train every fold of the converted split in turn")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config keys, dotted for nested ones (ultralytics.epochs=5); unknown keys "
                        "are rejected. Order: defaults < config file < these")
    parser.add_argument("--data-root", help="shortcut for --cfg-options data_root=... (a cxrdet convert folder)")
    parser.add_argument("--work-dir", help="shortcut for --cfg-options work_dir=... (default runs/<config name>)")
    parser.add_argument("--load-from", help="shortcut for --cfg-options load_from=... (a local .pt)")
    parser.add_argument("--device", help="shortcut for --cfg-options ultralytics.device=... (cpu, 0, 0,1)")
    parser.add_argument("--resume", action="store_true", help="continue each split from its interrupted last.pt")


def options_from(args: argparse.Namespace) -> dict:
    """``--cfg-options`` merged with the shortcut flags (the flags win)."""
    from cxrdet.config import parse_options

    options = parse_options(args.cfg_options)
    for flag, key in (("data_root", "data_root"), ("work_dir", "work_dir"), ("load_from", "load_from")):
        if getattr(args, flag):
            options[key] = getattr(args, flag)
    if args.device is not None:
        options.setdefault("ultralytics", {})["device"] = args.device
    return options


def _engine_of(path: str) -> str:
    from cxrdet.config import read_file

    return read_file(path).get("engine", "ultralytics")


def run(args: argparse.Namespace) -> int:
    """Resolves the config, trains each split and prints where the weights and OOF files are."""
    from cxrdet.errors import ConfigError

    engine = _engine_of(args.config)
    if engine != "ultralytics":
        raise ConfigError(f"{args.config}: engine={engine!r} has no trainer yet (available: 'ultralytics')")
    from cxrdet.engines import yolo

    cfg = yolo.resolve_config(args.config, options_from(args))
    dataset = yolo.Dataset.open(cfg["data_root"])
    splits = yolo.select_splits(dataset, args.fold, args.folds)
    results = yolo.train(cfg, splits, resume=args.resume)
    print(f"{'split':<8} {'VinDr mAP@' + format(cfg['vindr_iou'], 'g'):>14} {'time':>8}  best weights")
    for r in results:
        value = "-" if r.vindr_map is None else f"{r.vindr_map:.4f}"
        print(f"{r.split:<8} {value:>14} {r.seconds:>7.0f}s  {r.best}")
    oofs = [str(r.oof) for r in results if r.oof]
    if oofs:
        print("out-of-fold predictions: " + " ".join(oofs))
    combined = Path(cfg["work_dir"]) / "oof.csv"
    if oofs and combined.is_file():
        print(f"all folds: {combined} (for cxrdet tune-ensemble --gt <train.csv>)")
    print(f"resolved config: {cfg['work_dir']}/config.py")
    return 0
