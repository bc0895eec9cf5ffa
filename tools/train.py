"""mmdet-style ``tools/train.py`` over cxrdet: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] ...``.

A thin shim: the flags of mmdet's own ``tools/train.py`` (``--work-dir``, ``--amp``, ``--auto-scale-lr``,
``--resume``, ``--cfg-options``, ``--launcher``) plus cxrdet's ``--data-root``, ``--fold K`` and
``--all-folds``, turned into ``cxrdet train`` (which sets the fold's COCO files in the loaded config, keeps the
best checkpoint by VinDr mAP, writes weights-only checkpoints and out-of-fold predictions).
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a detector (cxrdet train, mmdet's tools/train.py flags)")
    parser.add_argument("config", help="train config file path")
    parser.add_argument("--work-dir", help="the dir to save logs and models")
    parser.add_argument("--amp", action="store_true", default=False, help="enable automatic-mixed-precision training")
    parser.add_argument("--auto-scale-lr", action="store_true", help="enable automatically scaling LR")
    parser.add_argument(
        "--resume",
        nargs="?",
        type=str,
        const="auto",
        help="resume from the latest checkpoint in the work_dir automatically, or from the given path",
    )
    parser.add_argument("--cfg-options", nargs="+", default=[], help="override settings in the used config (key=value)")
    parser.add_argument("--launcher", choices=["none", "pytorch"], default="none", help="job launcher")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    parser.add_argument("--data-root", help="the cxrdet convert folder (cxrdet)")
    parser.add_argument("--fold", type=int, action="append", help="train fold K (repeatable; cxrdet)")
    parser.add_argument("--all-folds", action="store_true", help="train every fold (cxrdet)")
    return parser.parse_args(argv)


def cxrdet_argv(args: argparse.Namespace) -> list[str]:
    """The ``cxrdet train`` command line of these flags."""
    argv = ["train", args.config, "--launcher", args.launcher]
    options = list(args.cfg_options)
    if args.amp:
        options += ["optim_wrapper.type=AmpOptimWrapper", "optim_wrapper.loss_scale=dynamic"]
    if args.auto_scale_lr:
        options += ["auto_scale_lr.enable=True"]
    if options:
        argv += ["--cfg-options", *options]
    if args.work_dir:
        argv += ["-o", args.work_dir]
    if args.data_root:
        argv += ["--data-root", args.data_root]
    for k in args.fold or []:
        argv += ["--fold", str(k)]
    if args.all_folds:
        argv.append("--all-folds")
    if args.resume:
        argv += ["--resume", args.resume]
    return argv


def main(argv: list[str] | None = None) -> int:
    from cxrdet.cli import main as cxrdet

    return cxrdet(cxrdet_argv(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
