"""``cxrdet convert``: a VinDr folder of DICOMs (+ train.csv) -> PNG cache, meta.csv, fused boxes, folds, COCO, YOLO.

Parallel over worker processes, resumable (finished PNGs are kept), atomic (no half-written file after a
kill), and it never stops at a bad file: failures go to ``failures.csv`` and bad label rows to
``label_problems.csv``, each with the reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd

from cxrdet import __version__
from cxrdet.errors import InputError
from cxrdet.io.atomic import write_csv, write_text
from cxrdet.preprocess.export import write_training_sets
from cxrdet.preprocess.images import convert_task, init_worker

log = logging.getLogger(__name__)

DICOM_SUFFIXES = (".dcm", ".dicom")
SETTINGS_FILE = "convert.json"
_SETTINGS_THAT_SHAPE_IMAGES = ("size", "bit_depth")


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
                f"label problems    {self.label_problems}" + ("  (see label_problems.csv)" if self.label_problems else ""),
                f"folds             {self.folds or '-'}",
            ]
        text.append(f"time              {self.seconds:.1f} s  ->  {self.out}")
        return text


def find_dicoms(dicom_dir: Path) -> list[Path]:
    """The ``.dcm``/``.dicom`` files directly in ``dicom_dir``, sorted; image ids (stems) must be unique."""
    if not dicom_dir.is_dir():
        raise InputError(dicom_dir, "DICOM folder not found")
    files = sorted(p for p in dicom_dir.iterdir() if p.suffix.lower() in DICOM_SUFFIXES and p.is_file())
    if not files:
        raise InputError(dicom_dir, f"no {'/'.join(DICOM_SUFFIXES)} files in the folder")
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise InputError(f, f"image id {f.stem!r} also used by {seen[f.stem].name}")
        seen[f.stem] = f
    return files


def _prepare_out(opts: ConvertOptions) -> None:
    """Create the output folder; refuse to mix settings with, or write into, someone else's folder."""
    out = opts.out
    settings = out / SETTINGS_FILE
    if settings.exists():
        previous = json.loads(settings.read_text())
        changed = [k for k in _SETTINGS_THAT_SHAPE_IMAGES if previous.get(k) != getattr(opts, k)]
        if changed:
            was = ", ".join(f"{k}={previous.get(k)}" for k in changed)
            raise InputError(out, f"was converted with {was}; use a new --out folder for other settings")
    elif out.exists() and any(out.iterdir()):
        raise InputError(out, "output folder is not empty and is not a cxrdet convert folder")
    out.mkdir(parents=True, exist_ok=True)
    record = {k: getattr(opts, k) for k in _SETTINGS_THAT_SHAPE_IMAGES} | {"cxrdet": __version__}
    write_text(settings, json.dumps(record, indent=2))


@contextlib.contextmanager
def _fork_pool(workers: int) -> Iterator:
    """A fork-started worker pool, with OpenCV's own thread pool in this process shut down while forking.

    Forked children inherit the parent's memory (imports, warm caches: no start-up cost) but not its
    threads; an OpenCV pool the parent had used could leave them waiting on its locks.
    """
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=init_worker)
    finally:
        cv2.setNumThreads(threads)
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


def _image_pass(files: list[Path], opts: ConvertOptions) -> tuple[list[dict], list[dict], int]:
    from tqdm import tqdm

    work = partial(convert_task, out=opts.out, size=opts.size, bit_depth=opts.bit_depth)
    records, failures, resumed = [], [], 0
    bar = tqdm(total=len(files), desc="convert", unit="img", disable=not opts.progress or None)
    with contextlib.ExitStack() as stack:
        if opts.workers <= 1:
            results = map(work, files)
        else:
            pool = stack.enter_context(_fork_pool(opts.workers))
            results = pool.imap_unordered(work, files, chunksize=2)
        for path, record, reason, was_done in results:
            if record is not None:
                records.append(record)
                resumed += was_done
            else:
                failures.append({"file": str(path), "image_id": path.stem, "reason": reason})
                log.warning("skipped %s: %s", path.name, reason)
            bar.update()
    bar.close()
    return records, failures, resumed


def convert(opts: ConvertOptions) -> ConvertSummary:
    """Run the whole conversion (see the module docstring); returns a summary.

    Raises:
        InputError: the DICOM folder or labels CSV cannot be used at all, or ``out`` is someone else's.
    """
    from cxrdet.preprocess.labels import read_labels, validate_rows

    start = time.perf_counter()
    opts.out = Path(opts.out)
    files = find_dicoms(Path(opts.dicom_dir))
    labels = validate_rows(read_labels(opts.labels)) if opts.labels else None
    _prepare_out(opts)
    records, failures, resumed = _image_pass(files, opts)
    summary = ConvertSummary(images=len(files), converted=len(records) - resumed, resumed=resumed,
                             failed=len(failures), out=str(opts.out))
    failures_csv = opts.out / "failures.csv"
    if failures:
        write_csv(failures_csv, pd.DataFrame(failures).sort_values("file"))
    elif failures_csv.exists():
        failures_csv.unlink()  # stale from an earlier run whose bad files are fixed now
    meta = pd.DataFrame(records).sort_values("image_id", kind="stable").reset_index(drop=True)
    write_csv(opts.out / "meta.csv", meta)
    if labels is not None:
        rows, problems = labels
        failed_ids = {f["image_id"] for f in failures}
        written = write_training_sets(opts, meta, rows, problems, failed_ids)
        summary.labelled_images, summary.boxes, summary.label_problems = written
        summary.folds = opts.folds
    summary.seconds = time.perf_counter() - start
    summary.outputs = sorted(str(p.relative_to(opts.out)) for p in opts.out.iterdir() if p.is_file())
    settings = json.loads((opts.out / SETTINGS_FILE).read_text())
    settings["summary"] = {k: v for k, v in asdict(summary).items() if k != "outputs"}
    write_text(opts.out / SETTINGS_FILE, json.dumps(settings, indent=2))
    return summary


def default_workers() -> int:
    """One worker per available core."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
