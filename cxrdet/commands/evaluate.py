"""CLI ``cxrdet evaluate``: score a prediction file against ground truth with the VinDr metric (mAP@0.4)."""

from __future__ import annotations

import argparse

HELP = "VinDr mAP@0.4 (VOC 2010 all-point) of a prediction file against ground truth; optional COCO numbers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cxrdet evaluate``."""
    parser.add_argument("--gt", required=True, help="ground truth: VinDr train.csv, prediction file or Kaggle CSV")
    parser.add_argument("--pred", required=True, help="predictions: prediction file (.csv/.parquet) or Kaggle CSV")
    parser.add_argument(
        "--map-iou", type=float, default=0.4, help="IoU at which a prediction matches a GT box (0.4: the competition's)"
    )
    parser.add_argument(
        "--gt-fuse",
        choices=("none", "wbf"),
        default="none",
        help="none: every reader's box is a GT box; wbf: fuse readers per image/class",
    )
    parser.add_argument(
        "--match",
        choices=("voc", "best_unmatched"),
        default="voc",
        help="voc: devkit matching (the competition's); best_unmatched: alternative",
    )
    parser.add_argument(
        "--ignore-unknown-images",
        action="store_true",
        help="drop predictions on images that are not in the ground truth (without it: an error)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the numbers as JSON (a new file unless --overwrite)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the --json file if it exists (never one of the inputs)"
    )
    parser.add_argument("--plots", metavar="DIR", help="write per-class precision-recall PNGs into this folder")
    parser.add_argument(
        "--coco", action="store_true", help="also compute COCO-style mAP@0.4/@0.5/@0.5:0.95 with pycocotools (slower)"
    )


def _fmt(value: float) -> str:
    return "-" if value != value else f"{value:.4f}"  # NaN -> "-"


def run(args: argparse.Namespace) -> int:
    """Reads both tables, prints the per-class table and ``mAP@<iou>: <value>`` as the last line."""
    import json

    from cxrdet.errors import ConfigError
    from cxrdet.evaluation.voc import vindr_map
    from cxrdet.io.atomic import write_text
    from cxrdet.io.metainfo import meta_for
    from cxrdet.io.outputs import check_output_dir, check_output_file
    from cxrdet.io.predictions import read_table

    if not 0.0 < args.map_iou <= 1.0:
        raise ConfigError(f"--map-iou must be in (0, 1], got {args.map_iou}")
    if args.json:
        check_output_file(args.json, [args.gt, args.pred], overwrite=args.overwrite)
    if args.plots:
        check_output_dir(args.plots, "--plots", [args.gt, args.pred])
    meta = meta_for([args.pred, args.gt])
    gt = read_table(args.gt, role="gt", gt_fuse=args.gt_fuse, meta=meta)
    pred = read_table(args.pred, role="pred", meta=meta)
    result = vindr_map(
        gt,
        pred,
        iou_thr=args.map_iou,
        match=args.match,
        unknown_images="ignore" if args.ignore_unknown_images else "error",
        curves=bool(args.plots),
        meta=meta,
    )
    coco = None
    if args.coco:
        from cxrdet.evaluation.coco import coco_map

        coco = coco_map(gt, pred, meta)
    if args.plots:
        from cxrdet.evaluation.plots import plot_pr_curves

        plot_pr_curves(result, args.plots)
    if args.json:
        per_class = {
            str(r.class_id): {
                "name": r.class_name,
                "ap": None if r.ap != r.ap else r.ap,
                "n_gt": int(r.n_gt),
                "n_pred": int(r.n_pred),
                "n_tp": int(r.n_tp),
            }
            for r in result.per_class.itertuples(index=False)
        }
        doc = {
            "mAP": None if result.map != result.map else result.map,
            "iou_thr": args.map_iou,
            "match": args.match,
            "gt_fuse": args.gt_fuse,
            "per_class": per_class,
        }
        if coco is not None:
            doc["coco"] = coco
        write_text(args.json, json.dumps(doc, indent=2) + "\n")
    print(f"{'id':>2}  {'class':<20} {'AP':>7} {'#GT':>7} {'#pred':>8}")
    for r in result.per_class.itertuples(index=False):
        print(f"{r.class_id:>2}  {r.class_name:<20} {_fmt(r.ap):>7} {r.n_gt:>7} {r.n_pred:>8}")
    if coco is not None:
        print("COCO (pycocotools, 101-point): " + ", ".join(f"{k} {_fmt(v)}" for k, v in coco.items()))
    print(f"mAP@{args.map_iou:g}: {_fmt(result.map)}")
    return 0
