"""``cxrdet convert``: a VinDr folder of DICOMs (+ train.csv) -> PNG cache, meta.csv, fused boxes, folds, COCO, YOLO.

Parallel over crash-isolated worker processes, resumable (``ledger.jsonl`` records each input's fingerprint
and outcome), atomic (no half-written file after a kill; stale temporary files are removed), and it never
stops at a bad file: failures go to ``failures.csv`` and bad label rows to ``label_problems.csv``, each with
the reason. Every option and the labels are checked before the (long) image pass starts. With
``pseudonymize`` every output names images by a salted hash only (see :mod:`cxrdet.preprocess.pseudonyms`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from cxrdet.errors import ConfigError, InputError
from cxrdet.io.atomic import remove_stale_temps, write_csv
from cxrdet.io.sources import find_dicoms
from cxrdet.preprocess.export import write_training_sets
from cxrdet.preprocess.image_pass import PassOptions, run_image_pass
from cxrdet.preprocess.images import IMAGES_DIR
from cxrdet.preprocess.ledger import Ledger
from cxrdet.preprocess.out_folder import prepare_out, record_summary
from cxrdet.preprocess.pseudonyms import Pseudonymizer

log = logging.getLogger(__name__)

_SETTINGS_THAT_SHAPE_OUTPUTS = ("size", "bit_depth")
GROUP_BY = ("none", "patient", "study")


@dataclass
class ConvertOptions:
    """Options of :func:`convert` (the CLI flags of ``cxrdet convert``)."""

    dicom_dir: Path
    out: Path
    labels: Path | None = None
    size: int = 1024
    bit_depth: int = 8
    fuse: str = "wbf"
    iou_thr: float = 0.4
    folds: int = 0
    seed: int = 0
    workers: int = 1
    progress: bool = True
    timeout: float | None = 300.0
    retry_failed: bool = False
    pseudonymize: bool = False
    pseudonym_map: Path | None = None
    group_by: str = "none"

    def map_path(self) -> Path:
        """Where the pseudonym map lives: ``--pseudonym-map``, else ``<out>.pseudonyms.json`` beside ``out``."""
        out = Path(self.out)
        return Path(self.pseudonym_map) if self.pseudonym_map else out.parent / f"{out.name}.pseudonyms.json"


@dataclass
class ConvertSummary:
    """What a conversion did."""

    images: int = 0
    converted: int = 0
    resumed: int = 0
    failed: int = 0
    labelled_images: int = 0
    boxes: int = 0
    label_problems: int = 0
    folds: int = 0
    seconds: float = 0.0
    out: str = ""
    outputs: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        text = [
            f"images found      {self.images}",
            f"  converted       {self.converted}",
            f"  already done    {self.resumed}",
            f"  failed          {self.failed}" + ("  (see failures.csv)" if self.failed else ""),
        ]
        if self.labelled_images:
            text += [
                f"labelled images   {self.labelled_images}",
                f"fused boxes       {self.boxes}",
                f"label problems    {self.label_problems}"
                + ("  (see label_problems.csv)" if self.label_problems else ""),
                f"folds             {self.folds or '-'}",
            ]
        text.append(f"time              {self.seconds:.1f} s  ->  {self.out}")
        return text


def check_options(opts: ConvertOptions) -> None:
    """Reject option values that cannot work, before anything is read or written."""
    if opts.size < 0:
        raise ConfigError(f"--size must be 0 (original size) or a positive number of pixels, got {opts.size}")
    if opts.folds < 0 or opts.folds == 1:
        raise ConfigError(f"--folds must be 0 (no folds) or at least 2, got {opts.folds}")
    if opts.folds and opts.labels is None:
        raise ConfigError("--folds needs --labels (folds split the labelled images)")
    if opts.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {opts.workers}")
    if opts.timeout is not None and opts.timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {opts.timeout}")
    if not 0.0 < opts.iou_thr <= 1.0:
        raise ConfigError(f"--fuse-iou must be in (0, 1], got {opts.iou_thr}")
    if opts.group_by not in GROUP_BY:
        raise ConfigError(f"--group-by must be one of {', '.join(GROUP_BY)}, got {opts.group_by!r}")
    if opts.group_by != "none" and not opts.folds:
        raise ConfigError("--group-by needs --folds (it keeps each patient's or study's images in one fold)")


def _read_checked_labels(opts: ConvertOptions, ids: set[str], pseudo: Pseudonymizer):
    """The label rows (image ids pseudonymised), their problems and the data set's class list; refuses labels
    that cannot make the folds."""
    from cxrdet.preprocess.labels import derive_meta, read_labels, validate_rows

    frame = read_labels(opts.labels)  # refuses a header without rows
    frame["image_id"] = frame["image_id"].map(lambda i: i if pd.isna(i) else pseudo(str(i)))
    dataset = derive_meta(frame, opts.labels)
    rows, problems = validate_rows(frame, dataset)
    labelled = len(set(rows["image_id"]) & ids)
    if labelled == 0:
        raise InputError(opts.labels, "no usable label row names an image of the DICOM folder")
    if opts.folds > labelled:
        raise InputError(
            opts.labels,
            f"--folds {opts.folds} needs at least {opts.folds} labelled images; the DICOM folder has {labelled}",
        )
    return rows, problems, dataset


def _write_failures(out: Path, failures: list[dict]) -> None:
    path = out / "failures.csv"
    if failures:
        write_csv(path, pd.DataFrame(failures).sort_values("image_id", kind="stable"))
    elif path.exists():
        path.unlink()  # stale from an earlier run whose bad files are fixed now


def _write_meta(out: Path, records: list[dict]) -> pd.DataFrame:
    from cxrdet.preprocess.images import RECORD_COLUMNS

    meta = pd.DataFrame(records, columns=list(RECORD_COLUMNS))
    meta = meta.sort_values("image_id", kind="stable").reset_index(drop=True)
    write_csv(out / "meta.csv", meta)
    return meta


def convert(opts: ConvertOptions) -> ConvertSummary:
    """Run the whole conversion (see the module docstring); returns a summary.

    Raises:
        ConfigError: an option value that cannot work.
        InputError: the DICOM folder or labels CSV cannot be used at all, ``out`` is someone else's (or a
            file), or no file could be converted (``failures.csv`` says why).
    """
    start = time.perf_counter()
    opts.out = Path(opts.out)
    check_options(opts)
    files = find_dicoms(Path(opts.dicom_dir))
    pseudo = Pseudonymizer.load_or_create(opts.map_path(), opts.out) if opts.pseudonymize else Pseudonymizer()
    inputs = [(f, pseudo(f.stem)) for f in files]
    labels = _read_checked_labels(opts, {i for _, i in inputs}, pseudo) if opts.labels else None
    settings = {k: getattr(opts, k) for k in _SETTINGS_THAT_SHAPE_OUTPUTS} | {"pseudonym_key": pseudo.key_id}
    prepare_out(opts.out, settings)
    if pseudo.enabled:
        pseudo.save(opts.map_path())
    for folder in (opts.out, opts.out / IMAGES_DIR):
        remove_stale_temps(folder)
    ledger = Ledger(opts.out)
    pass_opts = PassOptions(
        opts.out,
        opts.size,
        opts.bit_depth,
        opts.workers,
        opts.timeout,
        opts.retry_failed,
        opts.progress,
        key=pseudo.salt or b"",
        names_in_reports=not pseudo.enabled,
    )
    try:
        done = run_image_pass(inputs, ledger, pass_opts)
    finally:
        ledger.close(keep={i for _, i in inputs})
    summary = ConvertSummary(
        images=len(files),
        converted=len(done.records) - done.resumed,
        resumed=done.resumed,
        failed=len(done.failures),
        out=str(opts.out),
    )
    _write_failures(opts.out, done.failures)
    meta = _write_meta(opts.out, done.records)
    if not done.records:
        raise InputError(
            opts.dicom_dir,
            f"none of the {len(files)} DICOM files could be converted; the reasons are in {opts.out / 'failures.csv'}",
        )
    if labels is not None:
        rows, problems, dataset = labels
        failed_ids = {f["image_id"] for f in done.failures}
        groups = _group_keys(opts, inputs, set(meta["image_id"])) if opts.group_by != "none" else None
        written = write_training_sets(opts, meta, rows, problems, failed_ids, dataset, groups)
        summary.labelled_images, summary.boxes, summary.label_problems = written
        summary.folds = opts.folds
    summary.seconds = time.perf_counter() - start
    summary.outputs = sorted(str(p.relative_to(opts.out)) for p in opts.out.iterdir() if p.is_file())
    record_summary(opts.out, {k: v for k, v in asdict(summary).items() if k != "outputs"})
    return summary


def _group_keys(opts: ConvertOptions, inputs: list[tuple[Path, str]], converted: set[str]) -> dict[str, str | None]:
    """image_id -> HMAC of its PatientID / StudyInstanceUID (None when absent), under a key drawn for this run.

    The key is random and never stored: nothing on disk can be used to brute-force the (often short)
    identifiers, and the folds depend only on which images share a key
    (:func:`~cxrdet.preprocess.splits.group_numbers`).
    """
    from cxrdet.io.dicom_groups import hashed_group_key, new_group_secret

    key = new_group_secret()
    keys = {image_id: hashed_group_key(path, opts.group_by, key) for path, image_id in inputs if image_id in converted}
    missing = sum(v is None for v in keys.values())
    if missing:
        log.warning("%d image(s) have no %s identifier: each is its own group", missing, opts.group_by)
    return keys


def default_workers() -> int:
    """One worker per available core."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
