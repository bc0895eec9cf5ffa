"""Training sets out of ``cxrdet convert``: checked + fused labels, K folds, COCO json and the YOLO export.

Every split is derived once (``folds.csv``) and both COCO and YOLO are written from that same split.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from cxrdet.errors import InputError
from cxrdet.io.atomic import write_csv
from cxrdet.io.coco import build_coco, write_coco
from cxrdet.io.metainfo import CLASSES_FILE, write_meta
from cxrdet.io.yolo import write_labels, write_split
from cxrdet.preprocess.fusion import fuse_readers
from cxrdet.preprocess.labels import LabelProblem, check_images, problems_frame
from cxrdet.preprocess.splits import group_numbers, stratified_folds
from cxrdet.structures import VINDR, DatasetMeta

log = logging.getLogger(__name__)


def _write_split_pair(
    out: Path, name: str, meta: pd.DataFrame, boxes: pd.DataFrame, train_ids, val_ids, dataset: DatasetMeta
) -> None:
    train = meta.loc[meta["image_id"].isin(train_ids)]
    val = meta.loc[meta["image_id"].isin(val_ids)]
    write_coco(out / "coco" / f"{name}_train.json", build_coco(train, boxes, dataset))
    write_coco(out / "coco" / f"{name}_val.json", build_coco(val, boxes, dataset))
    write_split(out / "yolo" / name, out, train["file"].tolist(), val["file"].tolist(), dataset)


def write_training_sets(
    opts,
    meta: pd.DataFrame,
    rows: pd.DataFrame,
    problems: list[LabelProblem],
    failed_ids: set[str],
    dataset: DatasetMeta = VINDR,
    group_keys: dict[str, str | None] | None = None,
) -> tuple[int, int, int]:
    """Check labels against the converted images, fuse readers, split, and write COCO + YOLO.

    Args:
        opts: the :class:`~cxrdet.preprocess.convert.ConvertOptions`.
        meta: one record per converted image (``meta.csv``).
        rows: label rows that passed :func:`~cxrdet.preprocess.labels.validate_rows`.
        problems: problems found so far (extended here and written to ``label_problems.csv``).
        failed_ids: images that failed to convert.
        dataset: the class list (written to ``classes.json``, the one every later command reads).
        group_keys: optional image_id -> hashed patient/study key: images sharing one stay in one fold
            (``folds.csv`` then gets a ``group`` number column; the keys themselves are never written).

    Returns:
        (number of labelled images, number of fused boxes, number of label problems).
    """
    out = Path(opts.out)
    sizes = {r.image_id: (r.original_height, r.original_width) for r in meta.itertuples(index=False)}
    write_meta(out / CLASSES_FILE, dataset)
    rows, more = check_images(rows, sizes, failed_ids, dataset)
    problems = problems + more
    report = out / "label_problems.csv"
    if problems:
        write_csv(report, problems_frame(problems))
        rejected = sum(p.action == "rejected" for p in problems)
        log.warning("%d label row(s) rejected, %d clipped: see %s", rejected, len(problems) - rejected, report)
    elif report.exists():
        report.unlink()
    labelled = meta.loc[meta["image_id"].isin(set(rows["image_id"]))].reset_index(drop=True)
    unlabelled = len(meta) - len(labelled)
    if unlabelled:
        log.warning("%d converted image(s) have no label rows; left out of the training sets", unlabelled)
    boxes = fuse_readers(rows, method=opts.fuse, iou_thr=opts.iou_thr, meta=dataset)
    write_csv(out / "labels_fused.csv", boxes)
    write_labels(out, labelled, boxes)
    ids = labelled["image_id"].tolist()
    write_coco(out / "coco" / "all.json", build_coco(labelled, boxes, dataset))
    write_split(out / "yolo" / "all", out, labelled["file"].tolist(), labelled["file"].tolist(), dataset)
    if opts.folds:
        if len(ids) < opts.folds:
            raise InputError(
                opts.labels,
                f"--folds {opts.folds} needs at least {opts.folds} labelled images; "
                f"{len(ids)} were converted (see failures.csv and label_problems.csv)",
            )
        groups = None if group_keys is None else group_numbers(ids, [group_keys.get(i) for i in ids])
        try:
            folds = stratified_folds(ids, boxes, opts.folds, seed=opts.seed, meta=dataset, groups=groups)
        except ValueError as err:
            raise InputError(opts.labels, f"{err} (--group-by {opts.group_by})") from None
        table = pd.DataFrame({"image_id": ids, "fold": folds})
        if groups is not None:
            table["group"] = groups
        write_csv(out / "folds.csv", table)
        for k in range(opts.folds):
            val_ids = {i for i, f in zip(ids, folds) if f == k}
            train_ids = set(ids) - val_ids
            _write_split_pair(out, f"fold{k}", labelled, boxes, train_ids, val_ids, dataset)
    return len(labelled), len(boxes), len(problems)
