"""``cxrdet demo``: the whole pipeline on the built-in example, DICOM to a scored, validated Kaggle submission.

make-example -> convert (train with K folds, test) -> train the tiny YOLO config on every fold (OOF files)
-> predict the held-out labelled test DICOMs with each fold's model (hflip TTA + WBF) -> WBF over folds
-> VinDr mAP@0.4 against ``test_labels.csv`` (and an untrained model of the same shape, as a baseline)
-> submission -> validation. About 5 minutes on 2 CPU cores with the defaults.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

HELP = (
    "run the pipeline on the built-in synthetic example: make-example -> convert -> train YOLO on folds -> "
    "predict test DICOMs (TTA) -> WBF -> mAP@0.4 -> submission"
)
DEFAULT_CONFIG = "yolo/yolov5n_192-e20_example.py"  # among the configs shipped with cxrdet

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("runs/demo"),
        help="working folder (an earlier demo's is reused: its example, converted PNGs)",
    )
    parser.add_argument("--n-train", type=int, default=200, help="labelled example images")
    parser.add_argument("--n-test", type=int, default=40, help="held-out labelled test images")
    parser.add_argument("--size", type=int, default=192, help="PNG longest side (cxrdet convert --size)")
    parser.add_argument("--folds", type=int, default=2, help="K folds of the training images (one model each)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the example and the folds")
    parser.add_argument("--workers", type=int, default=None, help="processes (None: all cores)")
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help="YOLO config to train (the default is shipped with cxrdet)"
    )
    parser.add_argument(
        "--cfg-options", nargs="+", default=[], metavar="KEY=VALUE", help="config overrides, e.g. ultralytics.epochs=5"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip scoring an untrained model")


def _example(args: argparse.Namespace, root: Path, workers: int):
    from cxrdet.example.make import make_example

    if (root / "example_info.json").exists():
        log.info("reusing the example in %s", root)
        return None
    logging.getLogger("openjpeg").setLevel(logging.WARNING)
    return make_example(root, n_train=args.n_train, n_test=args.n_test, seed=args.seed, workers=workers)


def _convert(args: argparse.Namespace, example: Path, data: Path, workers: int):
    from cxrdet.preprocess.convert import ConvertOptions, convert

    common = dict(size=args.size, workers=workers, progress=False)
    train = convert(
        ConvertOptions(
            dicom_dir=example / "train",
            labels=example / "train.csv",
            out=data / "train",
            folds=args.folds,
            seed=args.seed,
            **common,
        )
    )
    test = convert(ConvertOptions(dicom_dir=example / "test", out=data / "test", **common))
    return train, test


def _predict_test(engine, weights: Path, example: Path, out: Path):
    from cxrdet.engines.no_finding import append_no_finding
    from cxrdet.io.predictions import write_predictions
    from cxrdet.io.sources import find_sources

    result = engine.predict(weights, find_sources(example / "test"), progress=False)
    table = append_no_finding(result.table)  # detector-only "No finding" score: 1 - top finding score
    write_predictions(table, out)
    return table, result


def _score(example: Path, table, gt_fuse: str = "wbf"):
    """VinDr mAP@0.4 against ``test_labels.csv``; ``wbf`` fuses its 3 readers' boxes into one per finding.

    The competition's test labels were one consensus box per finding (5 radiologists), so the readers of the
    example's test split are fused (WBF, IoU 0.4) by default; ``none`` scores against every reader's box.
    """
    from cxrdet.evaluation.voc import vindr_map
    from cxrdet.io.predictions import read_table

    return vindr_map(read_table(example / "test_labels.csv", role="gt", gt_fuse=gt_fuse), table)


def _submit(table, example: Path, out: Path) -> list[str]:
    from cxrdet.submission.kaggle import build_submission, read_sample_ids, write_submission
    from cxrdet.submission.validate import validate_submission

    sample = example / "sample_submission.csv"
    frame = build_submission(table, read_sample_ids(sample))
    write_submission(frame, out, overwrite=True)
    return validate_submission(out, sample, sizes=table.images.dropna())


def run(args: argparse.Namespace) -> int:
    from cxrdet.commands.test import print_map_table
    from cxrdet.config import merge, parse_options, resolve_path
    from cxrdet.engines.base import engine_of_config
    from cxrdet.engines.yolo.checkpoints import untrained_checkpoint
    from cxrdet.engines.yolo.sandbox import set_verbose
    from cxrdet.ensemble.fuse import ensemble_tables
    from cxrdet.io.predictions import write_predictions
    from cxrdet.preprocess.convert import default_workers

    start = time.perf_counter()
    set_verbose(logging.getLogger("cxrdet").getEffectiveLevel() <= logging.DEBUG)  # -v: Ultralytics' epochs too
    workers = args.workers or default_workers()
    out = args.out.resolve()
    example, data, pred = out / "example", out / "data", out / "pred"
    made = _example(args, example, workers)
    if made is not None:
        print(
            f"[1/7] make-example: {len(made.train_ids)} train + {len(made.test_ids)} test DICOMs, "
            f"{made.n_normal} without findings, findings per class {made.boxes_per_class} "
            f"({made.seconds:.1f} s) -> {example}"
        )
    train_sum, test_sum = _convert(args, example, data, workers)
    print(
        f"[2/7] convert: {train_sum.images} train images ({train_sum.boxes} fused boxes, {train_sum.folds} folds), "
        f"{test_sum.images} test images at {args.size} px ({train_sum.seconds + test_sum.seconds:.1f} s)"
    )
    if train_sum.failed or test_sum.failed:
        print("      some DICOMs failed to convert: see failures.csv")
        return 1
    options = merge(
        {"data_root": str(data / "train"), "work_dir": str(out / "train")}, parse_options(args.cfg_options)
    )  # the user's overrides win
    engine = engine_of_config(resolve_path(args.config), options)
    cfg = engine.cfg
    dataset = engine.dataset()
    t0 = time.perf_counter()
    folds = engine.train(engine.select_splits(folds="all"))
    print(
        f"[3/7] train {cfg['model']} at {cfg['ultralytics']['imgsz']} px, {cfg['ultralytics']['epochs']} epochs, "
        f"{len(folds)} folds ({time.perf_counter() - t0:.0f} s):"
    )
    for f in folds:
        print(f"      {f.split}: validation VinDr mAP@0.4 {f.vindr_map:.4f} ({f.seconds:.0f} s) -> {f.best}")
    t0 = time.perf_counter()
    tables = []
    for f in folds:
        table, result = _predict_test(engine, f.best, example, pred / f"test_{f.split}.csv")
        tables.append(table)
    tta = "hflip TTA + WBF" if cfg["predict"]["tta"] else "no TTA"
    print(
        f"[4/7] predict {len(table.images)} test DICOMs with {len(folds)} models ({tta}; "
        f"{time.perf_counter() - t0:.1f} s) -> {pred}"
    )
    fused = ensemble_tables(tables, "wbf", iou_thr=0.4, skip_box_thr=0.0)
    write_predictions(fused, pred / "test_wbf.csv")
    print(f"[5/7] WBF over {len(tables)} folds: {len(fused)} boxes -> {pred / 'test_wbf.csv'}")
    baseline = None
    if not args.no_baseline:
        weights = untrained_checkpoint(cfg, out / "baseline" / "untrained.pt", dataset.png_size, dataset.bit_depth)
        baseline = _score(example, _predict_test(engine, weights, example, pred / "test_untrained.csv")[0]).map
    result = _score(example, fused)
    print(
        f"[6/7] evaluate against {example / 'test_labels.csv'} (VOC 2010 all-point, IoU 0.4; the 3 readers' "
        "boxes fused by WBF, like the competition's consensus test labels):"
    )
    print_map_table(result, indent="      ")
    print(f"      (against every reader's box, unfused: mAP@0.4 {_score(example, fused, 'none').map:.4f})")
    problems = _submit(fused, example, out / "submission.csv")
    print(
        f"[7/7] submission {out / 'submission.csv'}: {len(fused.images)} images, "
        + (f"{len(problems)} problems: {problems[:3]}" if problems else "validation passed")
    )
    if baseline is not None:
        print(f"untrained {cfg['model']} (same pipeline): mAP@0.4 {baseline:.4f}")
    print(f"total time {time.perf_counter() - start:.0f} s")
    print(f"mAP@0.4: {result.map:.4f}")
    return 1 if problems else 0
