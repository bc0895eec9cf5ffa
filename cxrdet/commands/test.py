"""``cxrdet test``: score a trained checkpoint on its config's validation split and print its metrics (detectors: the
VinDr mAP table; image-level models: their metric's report and the parameter count)."""

from __future__ import annotations

import argparse
import logging

HELP = (
    "score a checkpoint on its config's validation split (a fold's val images): detectors VinDr mAP@0.4 per "
    "class; classifiers accuracy, F1 and the per-class report; bone age MAD/RMSE"
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cxrdet test``."""
    from cxrdet.commands.train import add_config_arguments

    parser.add_argument("config", help="the config the checkpoint was trained with")
    parser.add_argument("checkpoint", help="a local checkpoint (e.g. work_dirs/<config>/fold0/weights/best.pt)")
    parser.add_argument(
        "--fold",
        type=int,
        metavar="K",
        help="score on fold K's validation images (None: the split recorded in the checkpoint)",
    )
    add_config_arguments(parser)
    parser.add_argument("--device", help="shortcut for the engine's device option (cpu, 0, ...)")


def print_map_table(result, indent: str = "") -> None:
    """The per-class AP table of a :func:`cxrdet.evaluation.voc.vindr_map` result (classes with boxes)."""
    print(f"{indent}{'id':>2}  {'class':<20} {'AP':>7} {'#GT':>5} {'#pred':>6}")
    for r in result.per_class.itertuples(index=False):
        if r.n_gt or r.n_pred:
            ap = "-" if r.ap != r.ap else f"{r.ap:.4f}"
            print(f"{indent}{r.class_id:>2}  {r.class_name:<20} {ap:>7} {r.n_gt:>5} {r.n_pred:>6}")


def run(args: argparse.Namespace) -> int:
    """Predicts the split's validation images with the checkpoint and prints VinDr mAP per class."""
    from pathlib import Path

    from cxrdet.commands.train import engine_from
    from cxrdet.errors import InputError

    if not Path(args.checkpoint).is_file():
        raise InputError(args.checkpoint, "checkpoint not found (cxrdet never downloads weights)")
    engine = engine_from(args)
    split = None if args.fold is None else f"fold{args.fold}"
    result = engine.test(args.checkpoint, split)
    if hasattr(result, "lines"):  # image-level models: their metric's report
        print("\n".join(result.lines()))
        return 0
    print_map_table(result)
    print(f"mAP@{engine.cfg['vindr_iou']:g}: {result.map:.4f}")
    if getattr(result, "predictions", None):
        print(f"predictions: {result.predictions}")
    return 0
