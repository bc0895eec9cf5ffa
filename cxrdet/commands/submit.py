"""CLI ``cxrdet submit``: predictions (original pixels) -> Kaggle submission CSV (+ optional normal classifier)."""

from __future__ import annotations

import argparse

HELP = "write the Kaggle submission (sample's ids, in order) from a prediction file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cxrdet submit``."""
    parser.add_argument("pred", help="prediction file (.csv/.parquet) or Kaggle CSV, boxes in original pixels")
    parser.add_argument("--sample", required=True, help="the competition's sample_submission.csv")
    parser.add_argument("-o", "--out", required=True, help="submission CSV to write")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists (never one of the input files)"
    )
    parser.add_argument("--normal-prob", metavar="CSV", help="classifier output: image_id + p_normal (or p_abnormal)")
    parser.add_argument(
        "--normal-rule",
        choices=("append", "two-threshold"),
        default="append",
        help="append: add '14 p_normal 0 0 1 1' to every image; two-threshold: "
        "public-notebook rule with --low/--high on p_abnormal",
    )
    parser.add_argument("--low", type=float, default=0.08, help="two-threshold: p_abnormal below -> '14 1 0 0 1 1'")
    parser.add_argument("--high", type=float, default=0.95, help="two-threshold: p_abnormal below -> append class 14")
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="sample images absent from the predictions become '14 1 0 0 1 1' (without it: an error)",
    )


def run(args: argparse.Namespace) -> int:
    """Builds, checks and writes the submission; returns 1 if the written file fails validation."""
    import logging

    from cxrdet.errors import ConfigError
    from cxrdet.io.failures import failures_path, read_failures
    from cxrdet.io.outputs import check_output_file
    from cxrdet.io.prediction_strings import EMPTY_PREDICTION
    from cxrdet.io.predictions import read_table
    from cxrdet.submission.kaggle import build_submission, read_sample_ids, write_submission
    from cxrdet.submission.validate import validate_submission

    log = logging.getLogger("cxrdet.submit")
    check_output_file(args.out, [args.pred, args.sample, args.normal_prob], overwrite=args.overwrite)
    if not 0.0 <= args.low <= args.high <= 1.0:
        raise ConfigError(f"need 0 <= --low <= --high <= 1, got {args.low}, {args.high}")
    sample = read_sample_ids(args.sample)
    table = read_table(args.pred, role="pred")
    unread = read_failures(args.pred)
    if unread:
        log.warning(
            "%s: %d images could not be read when predicting (see %s); they have no boxes and are submitted as '%s'",
            args.pred,
            len(unread),
            failures_path(args.pred),
            EMPTY_PREDICTION,
        )
    if args.normal_prob:
        from cxrdet.submission.gating import apply_normal_gating, read_normal_probs

        probs = read_normal_probs(args.normal_prob)
        table = apply_normal_gating(
            table, probs, rule=args.normal_rule, low=args.low, high=args.high, source=args.normal_prob
        )
    frame = build_submission(table, sample, allow_missing=args.allow_missing)
    write_submission(frame, args.out, overwrite=args.overwrite)
    sizes = table.images.dropna() if table.images.notna().any().any() else None
    problems = validate_submission(args.out, args.sample, sizes=sizes)
    for problem in problems:
        log.error("%s: %s", args.out, problem)
    print(
        f"wrote {args.out}: {len(frame)} images, {len(table)} boxes"
        + (f"; {len(problems)} problems (see above)" if problems else "; validation passed")
    )
    return 1 if problems else 0
