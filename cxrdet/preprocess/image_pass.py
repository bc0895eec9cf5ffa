"""``cxrdet convert``'s image pass: every DICOM -> PNG in crash-isolated workers, resumed from the ledger.

An input whose fingerprint matches its ledger entry is not decoded again (its PNG and record are reused,
or its earlier failure is reported again); every other input is decoded by :func:`~cxrdet.isolation.isolated_map`,
so a decoder that aborts, panics or hangs costs that file only ("decoder crashed: SIGABRT in the worker
process" in ``failures.csv``). Each outcome is recorded in the ledger the moment it is known.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cxrdet.isolation import Crashed, isolated_map
from cxrdet.preprocess.images import IMAGES_DIR, ConvertTask, convert_task, init_worker
from cxrdet.preprocess.ledger import CONVERTED, FAILED, Ledger, Outcome, fingerprint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassOptions:
    """How to run the pass (from :class:`~cxrdet.preprocess.convert.ConvertOptions`)."""

    out: Path
    size: int
    bit_depth: int
    workers: int = 1
    timeout: float | None = None
    retry_failed: bool = False
    progress: bool = True
    key: bytes = b""  # fingerprint key (the pseudonymisation salt)
    names_in_reports: bool = True  # False with --pseudonymize: reports name images by pseudonym only


@dataclass
class PassResult:
    """Records of the converted images and the failures, each ``{"image_id", ["file",] "reason"}``."""

    records: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    resumed: int = 0


def _reuse(entry: Outcome | None, out: Path, retry_failed: bool) -> bool:
    if entry is None:
        return False
    if entry.outcome == CONVERTED:
        return (out / entry.record.get("file", f"{IMAGES_DIR}/-")).is_file()
    return entry.outcome == FAILED and not retry_failed


def _failure(path: Path, image_id: str, reason: str, opts: PassOptions) -> dict:
    log.warning("skipped %s: %s", path.name if opts.names_in_reports else image_id, reason)
    entry = {"image_id": image_id, "reason": reason}
    return {**entry, "file": str(path)} if opts.names_in_reports else entry


def _decoded(todo: list[tuple[Path, str, str]], opts: PassOptions) -> Iterator[tuple[Path, str, str, object]]:
    tasks = [ConvertTask(path, image_id, opts.out, opts.size, opts.bit_depth) for path, image_id, _ in todo]
    prints = {path: print_ for path, _, print_ in todo}
    for task, result in isolated_map(
        convert_task, tasks, workers=opts.workers, timeout=opts.timeout, initializer=init_worker
    ):
        yield task.path, task.image_id, prints[task.path], result


def run_image_pass(inputs: list[tuple[Path, str]], ledger: Ledger, opts: PassOptions) -> PassResult:
    """Convert ``(path, image_id)`` inputs, reusing the ledger's outcomes for unchanged files.

    Never raises for a bad file: a file that fails, crashes its worker or times out is a failure entry.
    """
    from tqdm import tqdm

    result, todo = PassResult(), []
    for path, image_id in inputs:
        try:
            print_ = fingerprint(path, opts.key)
        except OSError as err:
            result.failures.append(_failure(path, image_id, f"cannot read the file ({type(err).__name__})", opts))
            continue
        entry = ledger.lookup(image_id, print_)
        if not _reuse(entry, opts.out, opts.retry_failed):
            todo.append((path, image_id, print_))
        elif entry.outcome == CONVERTED:
            result.records.append(entry.record)
            result.resumed += 1
        else:
            reason = f"{entry.reason} (unchanged since an earlier run; --retry-failed decodes it again)"
            result.failures.append(_failure(path, image_id, reason, opts))
    bar = tqdm(
        total=len(inputs),
        initial=len(inputs) - len(todo),
        desc="convert",
        unit="img",
        disable=not opts.progress or None,
    )
    for path, image_id, print_, outcome in _decoded(todo, opts):
        if isinstance(outcome, Crashed):
            record, reason = None, outcome.describe("decoder")
        else:
            record, reason = outcome
        if record is not None:
            result.records.append(record)
            ledger.add(Outcome(image_id, print_, CONVERTED, record=record))
        else:
            result.failures.append(_failure(path, image_id, reason, opts))
            ledger.add(Outcome(image_id, print_, FAILED, reason=reason))
        bar.update()
    bar.close()
    return result
