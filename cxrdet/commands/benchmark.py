"""``cxrdet benchmark``: compare models from their configs (size, compute, speed, memory, metric), or tabulate
finished training runs from their work dirs.

``cxrdet benchmark CONFIG... -o DIR`` measures each config in its own process
(:mod:`cxrdet.benchmarking.suite`) and writes ``benchmark.md``, ``.csv``, ``.json`` and ``speed_vs_accuracy.png``
(:mod:`cxrdet.benchmarking.report`); a config that fails is a failed row and the exit status is 1 at the end.
``cxrdet benchmark --runs DIR... -o OUT`` reads ``cxrdet train`` work dirs (:mod:`cxrdet.benchmarking.runs_table`)
and writes ``runs.md``, ``.csv``, ``.json`` and ``runs.png`` (:mod:`cxrdet.benchmarking.runs_report`).
"""

from __future__ import annotations

import argparse
import logging

HELP = (
    "benchmark configs of any engine (parameters, GFLOPs, latency, throughput, peak memory, training img/s, "
    "the task's metric with a checkpoint) or tabulate finished training runs (--runs)"
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cxrdet benchmark``."""
    parser.add_argument(
        "configs",
        nargs="*",
        metavar="CONFIG",
        help="config files (configs/yolo, mmdet, fracture, bone_age, classifier, ...); a path that does not exist "
        "is looked up among cxrdet's shipped configs",
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        metavar="DIR",
        help="instead of configs: tabulate these finished cxrdet train work dirs (runs.md/.csv/.json/.png)",
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        metavar="CKPT",
        help="a trained checkpoint per config, in order (repeat it; '-' for none): adds the task's metric "
        "(cxrdet test's code path) on --data-root",
    )
    parser.add_argument("--data-root", help="the data set of the metric and --train-iters (None: each config's)")
    parser.add_argument("--imgsz", type=int, help="square input of every measurement (None: each config's own size)")
    parser.add_argument("--batch", type=int, default=1, help="images per call of the throughput run")
    parser.add_argument("--device", default="cpu", help="cpu or a CUDA device index (0)")
    parser.add_argument("--half", action="store_true", help="time in half precision (CUDA only)")
    parser.add_argument(
        "--train-iters",
        type=int,
        default=0,
        metavar="N",
        help="also time N training iterations through the engine's real trainer (needs --data-root)",
    )
    parser.add_argument("--train-batch", type=int, help="images per training iteration (None: max(2, --batch))")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls of each timing run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before them")
    parser.add_argument(
        "--cfg-options", nargs="+", default=[], metavar="KEY=VALUE", help="override keys of every config"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads of each measurement (None: torch's default; 1: steady on a busy machine)",
    )
    parser.add_argument("--timeout", type=float, help="seconds one config may take (None: no limit)")
    parser.add_argument(
        "--sort",
        default="score",
        metavar="COLUMN",
        help="--runs: the column to sort by (score = submission, else OOF, else best validation)",
    )
    parser.add_argument("--ascending", action="store_true", help="--runs: sort low to high (text: Z to A)")
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="folder for the report files")
    parser.add_argument("--overwrite", action="store_true", help="replace report files already in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _guard(args: argparse.Namespace, inputs: list):
    from cxrdet.io.outputs import check_output_dir, check_output_file

    out = check_output_dir(args.out, inputs=inputs)
    return out, lambda path: check_output_file(path, inputs, overwrite=args.overwrite)


def _runs(args: argparse.Namespace) -> int:
    from cxrdet.benchmarking.runs_report import FILES, runs_markdown, sort_runs, write_runs_report
    from cxrdet.benchmarking.runs_table import read_run
    from cxrdet.errors import ConfigError

    if args.configs:
        raise ConfigError("give CONFIG... or --runs DIR..., not both")
    out, check = _guard(args, list(args.runs))
    for name in FILES:
        check(out / name)
    rows = sort_runs([read_run(d) for d in args.runs], args.sort, args.ascending)
    paths = write_runs_report(out, rows, args.sort, check=check)
    print(runs_markdown(rows, args.sort))
    print("wrote " + " ".join(str(p) for p in paths))
    return 0


def run(args: argparse.Namespace) -> int:
    """Benchmarks the configs (or tabulates the runs) and writes the report; 1 when a config failed."""
    from cxrdet.errors import ConfigError

    if args.runs:
        return _runs(args)
    if not args.configs:
        raise ConfigError("nothing to benchmark: give CONFIG... or --runs DIR...")
    from cxrdet.benchmarking.machine import machine_record
    from cxrdet.benchmarking.report import FILES, benchmark_markdown, write_benchmark_report
    from cxrdet.benchmarking.suite import BenchmarkSettings, benchmark_configs, settings_record
    from cxrdet.config import parse_options
    from cxrdet.engines.runner.model import torch_device

    for flag, value, low in (("--batch", args.batch, 1), ("--repeats", args.repeats, 1), ("--warmup", args.warmup, 0)):
        if value < low:
            raise ConfigError(f"{flag} {value}: expected at least {low}")
    checkpoints = [None if c in (None, "-") else c for c in (args.checkpoint or [])] or None
    if checkpoints is not None and len(checkpoints) != len(args.configs):
        raise ConfigError(
            f"{len(checkpoints)} --checkpoint for {len(args.configs)} configs: "
            "give one per config, in order ('-': none)"
        )
    device = torch_device(args.device)
    if args.half and not device.startswith("cuda"):
        raise ConfigError("--half times in float16, which needs a CUDA device (--device 0)")
    inputs = [*args.configs, *(c for c in checkpoints or [] if c), args.data_root]
    out, check = _guard(args, inputs)
    for name in FILES:
        check(out / name)
    settings = BenchmarkSettings(
        data_root=args.data_root,
        imgsz=args.imgsz,
        batch=args.batch,
        device=device,
        half=args.half,
        train_iters=args.train_iters,
        train_batch=args.train_batch,
        repeats=args.repeats,
        warmup=args.warmup,
        options=parse_options(args.cfg_options),
        timeout=args.timeout,
        threads=args.threads,
    )
    rows = benchmark_configs(args.configs, checkpoints, settings, progress=not args.no_progress)
    machine = machine_record(device)
    record = settings_record(settings)
    paths = write_benchmark_report(out, rows, machine, record, check=check)
    print(benchmark_markdown(rows, machine, record))
    print("wrote " + " ".join(str(p) for p in paths))
    failed = [r for r in rows if r.get("status") != "ok"]
    for r in failed:
        log.error("%s: %s", r["config"], r["error"])
    return 1 if failed else 0
