"""mmdet-style ``tools/test.py`` over cxrdet: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] ...``.

A thin shim: mmdet's ``tools/test.py`` flags (``--work-dir``, ``--cfg-options``, ``--launcher``) plus cxrdet's
``--data-root`` and ``--fold``, turned into ``cxrdet test`` (VinDr mAP per class of the split the checkpoint
was trained on, and its prediction file in ORIGINAL pixels).
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Score a checkpoint (cxrdet test, mmdet's tools/test.py flags)")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--work-dir", help="the directory to save the file containing evaluation metrics")
    parser.add_argument("--cfg-options", nargs="+", default=[], help="override settings in the used config (key=value)")
    parser.add_argument("--launcher", choices=["none"], default="none", help="job launcher (single process)")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    parser.add_argument("--data-root", help="the cxrdet convert folder (cxrdet)")
    parser.add_argument("--fold", type=int, help="score on fold K's validation images (cxrdet)")
    return parser.parse_args(argv)


def cxrdet_argv(args: argparse.Namespace) -> list[str]:
    """The ``cxrdet test`` command line of these flags."""
    argv = ["test", args.config, args.checkpoint]
    if args.cfg_options:
        argv += ["--cfg-options", *args.cfg_options]
    if args.work_dir:
        argv += ["--work-dir", args.work_dir]
    if args.data_root:
        argv += ["--data-root", args.data_root]
    if args.fold is not None:
        argv += ["--fold", str(args.fold)]
    return argv


def main(argv: list[str] | None = None) -> int:
    from cxrdet.cli import main as cxrdet

    return cxrdet(cxrdet_argv(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
