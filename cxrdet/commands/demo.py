"""``cxrdet demo``: the whole pipeline on the built-in example, DICOM to a scored, validated Kaggle submission.

make-example -> convert (train with K folds, test) -> train the tiny YOLO config on every fold (OOF files)
-> predict the held-out labelled test DICOMs with each fold's model (hflip TTA + WBF) -> WBF over folds
-> train a small MMDetection detector (RetinaNet R-18) through mmengine's Runner on one fold and predict the
same DICOMs -> WBF of the two families -> train the normal/abnormal classifier (a small timm EfficientNet,
the winners' class-14 trick) and append ``14 p_normal 0 0 1 1`` to every image -> VinDr mAP@0.4 of each
family and of the fusion against ``test_labels.csv``, with and without the classifier (each model beside the
same model untrained, as a baseline) -> submission -> validation.
Commands never branch on the engine: both families go through the same seam (:mod:`cxrdet.engines.base`).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

HELP = (
    "run the pipeline on the built-in synthetic example: make-example -> convert -> train YOLO on folds and an "
    "MMDetection detector -> predict test DICOMs (TTA) -> WBF -> mAP@0.4 -> submission"
)
DEFAULT_CONFIG = "yolo/yolov5n_192-e20_example.py"  # among the configs shipped with cxrdet
DEFAULT_MMDET_CONFIG = "mmdet/retinanet_r18_fpn_160-e12_example.py"
DEFAULT_CLASSIFIER_CONFIG = "classifier/vindr-normal_example.py"

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
    parser.add_argument(
        "--mmdet-config",
        default=DEFAULT_MMDET_CONFIG,
        help="MMDetection config trained beside YOLO and fused with it (shipped with cxrdet)",
    )
    parser.add_argument(
        "--mmdet-cfg-options",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="overrides of the MMDetection config, e.g. train_cfg.max_epochs=6",
    )
    parser.add_argument("--mmdet-folds", type=int, default=1, help="folds the MMDetection model is trained on")
    parser.add_argument("--no-mmdet", action="store_true", help="YOLO only (no MMDetection model, no fusion)")
    parser.add_argument(
        "--classifier-config",
        default=DEFAULT_CLASSIFIER_CONFIG,
        help="normal/abnormal classifier config whose p_normal is appended as class 14 (shipped with cxrdet)",
    )
    parser.add_argument(
        "--classifier-cfg-options",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="overrides of the classifier config, e.g. train_cfg.max_epochs=3",
    )
    parser.add_argument("--no-classifier", action="store_true", help="no normal/abnormal classifier")
    parser.add_argument("--no-baseline", action="store_true", help="skip scoring untrained models")


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


def _family(engine, splits: list[str], example: Path, pred: Path, tag: str, baseline: bool):
    """Trains ``engine`` on ``splits``, predicts the test DICOMs with each model and fuses them by WBF.

    Returns the fused table, the training results and the mAP@0.4 of the same model untrained (or None).
    """
    from cxrdet.ensemble.fuse import ensemble_tables

    folds = engine.train(splits)
    tables = [_predict_test(engine, f.best, example, pred / f"test_{tag}_{f.split}.csv")[0] for f in folds]
    fused = tables[0] if len(tables) == 1 else ensemble_tables(tables, "wbf", iou_thr=0.4, skip_box_thr=0.0)
    untrained = None
    if baseline:
        weights = engine.untrained_checkpoint(engine.work_dir / "untrained" / f"untrained_{tag}.pt")
        untrained = _score(example, _predict_test(engine, weights, example, pred / f"test_{tag}_untrained.csv")[0]).map
    return fused, folds, untrained


def _classifier(args: argparse.Namespace, example: Path, data: Path, out: Path, quiet: list[str], baseline: bool):
    """Trains the normal/abnormal classifier on every labelled image and predicts the test DICOMs' p_normal.

    The test images are their converted PNGs (the preprocessing the classifier was trained on). Returns the
    engine, p_normal by image id, its AUC on the test labels (normal = no finding) and the untrained model's
    AUC (or None).
    """
    import pandas as pd

    from cxrdet.evaluation.classification import roc_auc

    engine = _engine(args.classifier_config, quiet + args.classifier_cfg_options, data / "train", out)
    (result,) = engine.train(["all"])
    sources = engine.sources(data / "test" / "images")
    labels = pd.read_csv(example / "test_labels.csv", dtype={"image_id": str})
    abnormal = set(labels.loc[labels["class_id"] != 14, "image_id"])

    def p_normal(weights: Path) -> pd.Series:
        rows = engine.predict(weights, sources).rows.set_index("image_id")
        rows.to_csv(weights.with_name(f"test_p_normal_{weights.stem}.csv"))
        return rows["p_normal"]

    def auc(p: pd.Series) -> float:
        return roc_auc([0 if i in abnormal else 1 for i in p.index], p.to_numpy())

    probs = p_normal(result.best)
    untrained = None
    if baseline:
        untrained = auc(p_normal(engine.untrained_checkpoint(engine.work_dir / "untrained" / "untrained_cls.pth")))
    return engine, probs, auc(probs), untrained


def _engine(config: str, options: list[str], data: Path, work_dir: Path):
    from cxrdet.config import merge, parse_options, resolve_path
    from cxrdet.engines.base import engine_of_config

    defaults = {"data_root": str(data), "work_dir": str(work_dir)}
    return engine_of_config(resolve_path(config), merge(defaults, parse_options(options)))  # the user's win


def _print_folds(step: str, engine, folds, seconds: float) -> None:
    print(f"{step} train {engine.describe()} on {', '.join(f.split for f in folds)} ({seconds:.0f} s):")
    for f in folds:
        score = "not scored" if f.vindr_map is None else f"{f.vindr_map:.4f}"
        print(f"      {f.split}: validation VinDr mAP@0.4 {score} ({f.seconds:.0f} s) -> {f.best}")


def run(args: argparse.Namespace) -> int:
    from cxrdet.commands.test import print_map_table
    from cxrdet.engines.yolo.sandbox import set_verbose
    from cxrdet.ensemble.fuse import ensemble_tables
    from cxrdet.io.predictions import write_predictions
    from cxrdet.preprocess.convert import default_workers

    start = time.perf_counter()
    verbose = logging.getLogger("cxrdet").getEffectiveLevel() <= logging.DEBUG
    set_verbose(verbose)  # -v: Ultralytics' epochs too
    workers = args.workers or default_workers()
    out = args.out.resolve()
    example, data, pred = out / "example", out / "data", out / "pred"
    steps = (7 if args.no_mmdet else 8) + (0 if args.no_classifier else 1)
    made = _example(args, example, workers)
    if made is not None:
        print(
            f"[1/{steps}] make-example: {len(made.train_ids)} train + {len(made.test_ids)} test DICOMs, "
            f"{made.n_normal} without findings, findings per class {made.boxes_per_class} "
            f"({made.seconds:.1f} s) -> {example}"
        )
    train_sum, test_sum = _convert(args, example, data, workers)
    print(
        f"[2/{steps}] convert: {train_sum.images} train images ({train_sum.boxes} fused boxes, "
        f"{train_sum.folds} folds), {test_sum.images} test images at {args.size} px "
        f"({train_sum.seconds + test_sum.seconds:.1f} s)"
    )
    if train_sum.failed or test_sum.failed:
        print("      some DICOMs failed to convert: see failures.csv")
        return 1
    baseline = not args.no_baseline
    yolo = _engine(args.config, args.cfg_options, data / "train", out / "train")
    t0 = time.perf_counter()
    yolo_table, folds, yolo_untrained = _family(yolo, yolo.select_splits(folds="all"), example, pred, "yolo", baseline)
    _print_folds(f"[3/{steps}]", yolo, folds, time.perf_counter() - t0)
    write_predictions(yolo_table, pred / "test_yolo_wbf.csv")
    tta = "hflip TTA + WBF" if yolo.cfg["predict"].get("tta") else "no TTA"
    print(
        f"[4/{steps}] predict {len(yolo_table.images)} test DICOMs with {len(folds)} YOLO models ({tta}), "
        f"WBF over the folds -> {pred / 'test_yolo_wbf.csv'}"
    )
    models = [("YOLO", yolo, yolo_table, yolo_untrained)]
    if not args.no_mmdet:
        quiet = [] if verbose else ["log_level=WARNING"]  # mmengine's per-iteration log only with -v
        mmdet = _engine(args.mmdet_config, quiet + args.mmdet_cfg_options, data / "train", out / "train_mmdet")
        t0 = time.perf_counter()
        splits = [f"fold{k}" for k in range(min(args.mmdet_folds, args.folds))] or ["all"]
        mm_table, mm_folds, mm_untrained = _family(mmdet, splits, example, pred, "mmdet", baseline)
        _print_folds(f"[5/{steps}]", mmdet, mm_folds, time.perf_counter() - t0)
        write_predictions(mm_table, pred / "test_mmdet.csv")
        models.append(("MMDetection", mmdet, mm_table, mm_untrained))
        fused = ensemble_tables([yolo_table, mm_table], "wbf", iou_thr=0.4, skip_box_thr=0.0)
        write_predictions(fused, pred / "test_wbf.csv")
        print(f"[6/{steps}] WBF of YOLO and MMDetection: {len(fused)} boxes -> {pred / 'test_wbf.csv'}")
    else:
        fused = yolo_table
        write_predictions(fused, pred / "test_wbf.csv")
    without_classifier = fused
    if not args.no_classifier:
        from cxrdet.submission.gating import apply_normal_gating

        quiet = [] if verbose else ["log_level=WARNING"]
        t0 = time.perf_counter()
        cls, probs, auc, auc_untrained = _classifier(args, example, data, out / "train_classifier", quiet, baseline)
        fused = apply_normal_gating(fused, probs, rule="append", source="the demo's classifier")
        write_predictions(fused, pred / "test_wbf_classifier.csv")
        versus = "" if auc_untrained is None else f" (untrained: {auc_untrained:.3f})"
        print(
            f"[{steps - 2}/{steps}] normal/abnormal classifier {cls.describe()} ({time.perf_counter() - t0:.0f} s): "
            f"test AUC {auc:.3f}{versus}; '14 p_normal 0 0 1 1' appended to every image -> "
            f"{pred / 'test_wbf_classifier.csv'}"
        )
    result = _score(example, fused)
    print(
        f"[{steps - 1}/{steps}] evaluate against {example / 'test_labels.csv'} (VOC 2010 all-point, IoU 0.4; the 3 "
        "readers' boxes fused by WBF, like the competition's consensus test labels):"
    )
    print_map_table(result, indent="      ")
    print(f"      (against every reader's box, unfused: mAP@0.4 {_score(example, fused, 'none').map:.4f})")
    problems = _submit(fused, example, out / "submission.csv")
    print(
        f"[{steps}/{steps}] submission {out / 'submission.csv'}: {len(fused.images)} images, "
        + (f"{len(problems)} problems: {problems[:3]}" if problems else "validation passed")
    )
    for family, engine, table, untrained in models:
        scored = f"mAP@0.4 {_score(example, table).map:.4f}"
        versus = "" if untrained is None else f" (untrained, same pipeline: {untrained:.4f})"
        print(f"{family} {engine.describe()}: {scored}{versus}")
    if len(models) > 1:
        print(f"WBF of {' + '.join(m[0] for m in models)}: mAP@0.4 {_score(example, without_classifier).map:.4f}")
    if not args.no_classifier:
        print(f"with the normal/abnormal classifier's class 14: mAP@0.4 {result.map:.4f}")
    print(f"total time {time.perf_counter() - start:.0f} s")
    print(f"mAP@0.4: {result.map:.4f}")
    return 1 if problems else 0
