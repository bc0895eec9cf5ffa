"""``cxrdet tune-ensemble``: grid / random search of fusion thresholds and model weights for the best VinDr mAP."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cxrdet.commands.ensemble import add_fusion_arguments, fusion_options, load_inputs

HELP = (
    "search fusion IoU / skip_box_thr / model weights maximising VinDr mAP (@0.4, --map-iou) on out-of-fold predictions"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_fusion_arguments(parser)
    parser.add_argument(
        "--gt", type=Path, required=True, help="ground truth: VinDr train.csv, prediction-format or Kaggle-format file"
    )
    parser.add_argument(
        "--gt-fuse", choices=("none", "wbf"), default="none", help="fuse the radiologists' boxes of a train.csv first"
    )
    parser.add_argument(
        "--iou-thr",
        type=float,
        nargs="+",
        default=[0.3, 0.4, 0.5, 0.6],
        metavar="IOU",
        help="fusion IoU thresholds to try (ensemble --iou-thr)",
    )
    parser.add_argument("--iou-thrs", type=float, nargs="+", dest="iou_thr", help=argparse.SUPPRESS)  # old name
    parser.add_argument(
        "--skip-box-thr",
        type=float,
        nargs="+",
        default=[0.0, 0.001, 0.01],
        metavar="THR",
        help="skip thresholds to try (ensemble --skip-box-thr)",
    )
    parser.add_argument(
        "--skip-box-thrs", type=float, nargs="+", dest="skip_box_thr", help=argparse.SUPPRESS
    )  # old name
    parser.add_argument(
        "--weights-grid",
        nargs="+",
        default=[],
        metavar="W1,W2,...",
        help="weight settings to try, e.g. 1,1,1 2,1,1 (none: equal weights)",
    )
    parser.add_argument(
        "--weight-levels",
        type=float,
        nargs="+",
        default=[],
        help="try every combination of these per-model weights (e.g. 1 2 3)",
    )
    parser.add_argument(
        "--conf-types",
        nargs="+",
        default=None,
        choices=("avg", "max", "box_and_model_avg", "absent_model_aware_avg"),
        help="WBF confidence types to try (None: --conf-type)",
    )
    parser.add_argument("--trials", type=int, help="evaluate only this many settings drawn from the grid")
    parser.add_argument("--seed", type=int, default=0, help="seed of --trials sampling")
    parser.add_argument(
        "--map-iou",
        type=float,
        default=0.4,
        help="metric IoU threshold, as evaluate --map-iou (0.4: the competition's)",
    )
    parser.add_argument("--top", type=int, default=10, help="settings shown in the summary")
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="write every trial and the best setting here (a new file unless --overwrite)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the --json file if it exists (never one of the inputs)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _single_models(tables, evaluator) -> list[dict]:
    return [{"file": t.source, "map": float(evaluator.evaluate(t, curves=False).map)} for t in tables]


def _print_summary(method: str, trials, singles: list[dict], top: int, map_iou: float = 0.4) -> None:
    metric = f"mAP@{map_iou:g}"
    print(f"{'file':<40} {metric:>8}")
    for s in singles:
        print(f"{str(s['file'])[-40:]:<40} {s['map']:8.4f}")
    print(f"\n{method}: {len(trials)} settings, best first")
    print(f"{'iou_thr':>7} {'skip_thr':>8} {'conf_type':<22} {metric:>8}  weights")
    for t in trials[:top]:
        weights = ",".join(f"{w:g}" for w in t.weights)
        print(f"{t.iou_thr:7.3f} {t.skip_box_thr:8.4f} {t.conf_type:<22} {t.map:8.4f}  {weights}")
    best = trials[0]
    print(
        f"\nbest: --method {method} --iou-thr {best.iou_thr:g} --skip-box-thr {best.skip_box_thr:g} "
        f"--conf-type {best.conf_type} --weights {' '.join(f'{w:g}' for w in best.weights)}  "
        f"{metric} = {best.map:.4f}"
    )


def run(args: argparse.Namespace) -> int:
    from cxrdet.ensemble.fuse import prepare
    from cxrdet.ensemble.tune import sample, search, settings_grid
    from cxrdet.errors import InputError
    from cxrdet.evaluation.voc import VocEvaluator
    from cxrdet.io.atomic import atomic_path
    from cxrdet.io.metainfo import meta_beside
    from cxrdet.io.outputs import check_output_file
    from cxrdet.io.predictions import read_table

    if args.json:
        check_output_file(args.json, [*args.preds, *args.hflip, args.gt, args.sizes], overwrite=args.overwrite)
    tables, sizes, meta = load_inputs(args)
    gt_meta = meta_beside(args.gt)
    if gt_meta is not None and gt_meta[0] != meta:
        raise InputError(gt_meta[1], "class list differs from the prediction files'")
    gt = read_table(args.gt, role="gt", gt_fuse=args.gt_fuse, meta=meta)
    evaluator = VocEvaluator(gt, iou_thr=args.map_iou, meta=meta)
    prep = prepare(tables, args.missing, sizes, args.unknown_size, meta)
    grid = settings_grid(
        len(tables),
        args.iou_thr,
        args.skip_box_thr,
        args.weights_grid,
        args.weight_levels,
        args.conf_types or [args.conf_type],
    )
    options = fusion_options(args)
    options.pop("conf_type")
    trials = search(
        prep, evaluator, sample(grid, args.trials, args.seed), args.method, progress=not args.no_progress, **options
    )
    singles = _single_models(tables, evaluator)
    _print_summary(args.method, trials, singles, args.top, args.map_iou)
    if args.json:
        report = {
            "method": args.method,
            "metric_iou": args.map_iou,
            "best": trials[0].as_dict(),
            "single_models": singles,
            "trials": [t.as_dict() for t in trials],
            "files": [str(p) for p in [*args.preds, *args.hflip]],
        }
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(report, indent=2))
    return 0
