"""Benchmark of the detectors behind cxrdet's configs: size, compute, speed, memory, and cxrdet train's overhead.

For every config under ``configs/mmdet/`` and ``configs/yolo/`` (or those ``--configs`` names), each in its own
process (:func:`cxrdet.benchmarking.memory.run_isolated`, so that its peak memory is its own), with random
weights and nothing downloaded (:mod:`cxrdet.benchmarking`):

* parameters, and GFLOPs at the config's own input size in both conventions (mmdet's ``get_flops.py``:
  a multiply-add is one FLOP; Ultralytics' ``model.info()``: two);
* CPU latency per image at batch 1 at ``--size`` (median and interquartile range over repeats after a
  warm-up) and throughput at ``--batch``, of the network forward (mmdet ``mode='tensor'``, YOLO's raw head
  output: no box decoding or NMS), and the process's peak RSS after those runs.

Then, in the same run, training images/s of each mmdet config through ``cxrdet train`` against mmdet's own
``tools/train.py`` on the same derived config (:func:`cxrdet.benchmarking.training.bench_config`: the
full-size model on ``--size`` px images of a synthetic ``cxrdet convert`` set, ``--iters`` iterations, no
validation), read from the iteration times mmengine logs (target >= 0.95x: cxrdet adds no overhead). Each
tool runs ``--rounds`` times, the two alternating which goes first; a tool's figure is its fastest run's.
Where CUDA is available, also the full-size inference and training images/s on the GPU (its name is printed).

    .venv/bin/python benchmarks/detectors.py [--configs NAME ...] [--size 256] [--batch 2] [--iters 10]
        [--repeats 10] [--rounds 2] [--quick] [--no-train] [--data DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cxrdet.benchmarking.counting import MMDET_CONVENTION, ULTRALYTICS_CONVENTION  # noqa: E402
from cxrdet.benchmarking.memory import IsolatedError, run_isolated  # noqa: E402
from cxrdet.benchmarking.training import (  # noqa: E402
    TrainingError,
    bench_config,
    cxrdet_trains_mmdet,
    train_with_cxrdet,
    train_with_mmdet_tool,
)

TARGET = 0.95
FAMILIES = ("configs/mmdet", "configs/yolo")
YOLO_ORDER = "nsmlx"


def family(path: Path) -> str:
    """``faster-rcnn_r50_fpn_1024-e12_vindr`` -> ``faster-rcnn``; ``yolov5s_1024-e40_vindr`` -> ``yolov5``."""
    head = path.stem.split("_")[0]
    return re.sub(r"^(yolov\d+)[nsmlx]$", r"\1", head)


def _order(path: Path) -> tuple:
    m = re.match(r"yolov\d+([nsmlx])_", path.stem)
    return (YOLO_ORDER.index(m.group(1)) if m else 0, path.stem)


def discover(patterns: list[str] | None, quick: bool) -> list[Path]:
    """The config files to benchmark: every one under :data:`FAMILIES`, those whose name contains one of
    ``patterns``; with ``quick`` one per family (the smallest YOLO, else the first by name)."""
    found = sorted((p for d in FAMILIES for p in (ROOT / d).glob("*.py")), key=_order)
    if patterns:
        found = [p for p in found if any(pat in p.stem or pat == str(p) for pat in patterns)]
    if quick:
        chosen: dict[str, Path] = {}
        for p in found:
            chosen.setdefault(family(p), p)
        found = list(chosen.values())
    return found


def engine_of(path: Path) -> str:
    from cxrdet.benchmarking.detectors import config_engine

    try:
        return config_engine(path)
    except Exception:
        return "?"


def measure(configs: list[Path], size: int | None, batch: int, repeats: int, device: str, count: bool) -> list[dict]:
    """One row per config from :func:`cxrdet.benchmarking.measure.measure_config` in its own process."""
    rows = []
    for i, path in enumerate(configs, 1):
        print(f"[{i}/{len(configs)}] {path.relative_to(ROOT)} on {device}", file=sys.stderr, flush=True)
        kwargs = {"config": str(path), "size": size, "batch": batch, "repeats": repeats, "warmup": 2}
        kwargs.update(device=device, count=count)
        try:
            result = run_isolated("cxrdet.benchmarking.measure:measure_config", kwargs, timeout=1800)
            rows.append(dict(result.value, status="ok"))
        except IsolatedError as err:
            rows.append({"config": str(path), "name": path.stem, "status": f"failed: {str(err).splitlines()[0]}"})
    return rows


def make_data(folder: Path, n_images: int, size: int) -> Path:
    """A synthetic ``cxrdet convert`` folder of ``n_images`` 16-bit PNGs at ``size`` (cached in ``folder``)."""
    from cxrdet.example.make import make_example
    from cxrdet.preprocess.convert import ConvertOptions, convert

    data = folder / f"converted_{n_images}_{size}"
    if (data / "coco" / "all.json").is_file():
        return data
    example = folder / f"example_{n_images}_{max(512, size)}"
    side = max(512, size)
    make_example(example, n_train=n_images, n_test=1, seed=0, sizes=[(side, side)], overwrite=True)
    convert(
        ConvertOptions(
            dicom_dir=example / "train", out=data, labels=example / "train.csv", size=size, bit_depth=16, progress=False
        )
    )
    return data


def compare_training(
    configs: list[Path], data: Path, work: Path, size: int, batch: int, device: str = "cpu", rounds: int = 1
) -> list[dict]:
    """``cxrdet train`` vs mmdet's ``train.py`` on each mmdet config: ``rounds`` runs of each, alternating which
    tool goes first; each run's speed from its median logged iteration, each tool's from its fastest run (on a
    shared machine the slower runs measure the neighbours' load)."""
    rows = []
    available = cxrdet_trains_mmdet()
    for i, path in enumerate(configs):
        print(f"training {path.stem} at {size} px, batch {batch}", file=sys.stderr, flush=True)
        row: dict = {"name": path.stem, "size": size, "batch": batch}
        try:
            cfg = bench_config(path, work / path.stem / "bench_config.py", data, size=size, batch=batch)
        except Exception as err:
            rows.append(dict(row, status=f"failed: config: {err}"))
            continue
        tools = ["mmdet"] + (["cxrdet"] if available else [])
        times: dict[str, list[float]] = {t: [] for t in tools}  # per run: its median iteration
        walls: dict[str, list[float]] = {t: [] for t in tools}
        status = []
        for r in range(rounds):
            for tool in tools if (i + r) % 2 == 0 else tools[::-1]:
                out = work / path.stem / f"{tool}{r}"
                try:
                    if tool == "mmdet":
                        speed = train_with_mmdet_tool(cfg, out, batch, device=device)
                    else:
                        speed = train_with_cxrdet(cfg, data, out, batch, device=device)
                except TrainingError as err:
                    status.append(str(err))
                    continue
                times[tool].append(speed.median_iteration)
                walls[tool].append(speed.wall_seconds)
        for tool in tools:
            if times[tool]:
                row[tool] = {
                    "images_per_s": batch / min(times[tool]),  # the least disturbed run (as timeit's best of)
                    "runs_images_per_s": [batch / t for t in times[tool]],
                    "iters": args_iters(work / path.stem, tool),
                    "wall_s": statistics.median(walls[tool]),
                }
        if not available:
            status.append("cxrdet train: no mmdet engine ('mmdet' not in cxrdet.engines.base.ENGINES)")
        if "mmdet" in row and "cxrdet" in row:
            row["ratio"] = row["cxrdet"]["images_per_s"] / row["mmdet"]["images_per_s"]
        row["status"] = "; ".join(status) or "ok"
        rows.append(row)
    return rows


def args_iters(folder: Path, tool: str) -> int:
    """Timed iterations of one run of ``tool`` (after the warm-up ones), from its first run's log."""
    from cxrdet.benchmarking.training import iteration_times

    return max(0, len(iteration_times(folder / f"{tool}0")) - 2)


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def print_models(rows: list[dict], size: int | str, batch: int, title: str) -> None:
    device = next((r["device"] for r in rows if "device" in r), "?")
    print(f"\n{title} ({device})")
    print(f"GFLOPs at each config's size: mmdet = {MMDET_CONVENTION}; UL = {ULTRALYTICS_CONVENTION}")
    print(
        "latency: network forward (mmdet mode='tensor', YOLO raw head output; no NMS), batch 1, "
        "median +- IQR; memory: peak RSS of the config's own process after the timing runs"
    )
    print("YOLO rows are Ultralytics' YOLOv5u (e.g. s: 9.1 M parameters; the original YOLOv5s has 7.2 M)")
    head = (
        f"{'config':<46} {'engine':<11} {'params':>8} {'size':>9} {'GFLOPs':>8} {'GFLOPs':>8} "
        f"{'ms/img':>16} {'img/s':>7} {'peak':>7}"
    )
    print(head)
    unit = f"@{size}px"
    print(
        f"{'':<46} {'':<11} {'(M)':>8} {'':>9} {'(mmdet)':>8} {'(UL)':>8} {unit:>16} {'@b' + str(batch):>7} "
        f"{'RSS MB':>7}"
    )
    for r in rows:
        if r["status"] != "ok":
            print(f"{r['name']:<46} {r['status']}")
            continue
        lat = r["latency"]
        h, w = r["config_size"]
        params = None if r["params"] is None else r["params"] / 1e6
        ms = f"{lat['median_ms']:.1f} +- {lat['iqr_ms']:.1f}"
        print(
            f"{r['name']:<46} {r['engine']:<11} {_fmt(params, '.2f'):>8} {f'{h}x{w}':>9} "
            f"{_fmt(r['gflops_mmdet'], '.1f'):>8} {_fmt(r['gflops_ultralytics'], '.1f'):>8} {ms:>16} "
            f"{r['throughput']['images_per_s']:>7.2f} {r['peak_rss_mb']:>7.0f}"
        )


def print_training(rows: list[dict], title: str) -> bool:
    """Prints the training table; True when every compared config reaches :data:`TARGET`."""
    print(f"\n{title}")
    print(
        "images/s = batch / median logged iteration time of the tool's fastest run (data loading included; "
        "the first 2 iterations of each run dropped); wall s: median whole command, start-up included"
    )
    print(
        f"{'config':<46} {'size':>5} {'batch':>5} {'iters':>5} {'mmdet img/s':>11} {'cxrdet img/s':>12} "
        f"{'ratio':>6} {'wall s mm/cx':>13}  verdict"
    )
    ok = bool(rows)
    for r in rows:
        mm, cx = r.get("mmdet") or {}, r.get("cxrdet") or {}
        ratio = r.get("ratio")
        if ratio is None:
            verdict = r["status"]
            ok = False
        else:
            verdict = "OK" if ratio >= TARGET else f"BELOW TARGET {TARGET}x"
            ok = ok and ratio >= TARGET
            if r["status"] != "ok":
                verdict += f" ({r['status']})"
        wall = f"{_fmt(mm.get('wall_s'), '.0f')}/{_fmt(cx.get('wall_s'), '.0f')}"
        print(
            f"{r['name']:<46} {r['size']:>5} {r['batch']:>5} {_fmt(mm.get('iters') or cx.get('iters'), 'd'):>5} "
            f"{_fmt(mm.get('images_per_s'), '.3f'):>11} {_fmt(cx.get('images_per_s'), '.3f'):>12} "
            f"{_fmt(ratio, '.2f'):>6} {wall:>13}  {verdict}"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", metavar="NAME", help="configs whose file name contains NAME")
    parser.add_argument("--size", type=int, default=256, help="square input of the CPU timing and training runs")
    parser.add_argument("--batch", type=int, default=2, help="batch of the throughput and training runs")
    parser.add_argument("--iters", type=int, default=10, help="training iterations of each tool (2 more as warm-up)")
    parser.add_argument("--repeats", type=int, default=10, help="timed forward passes (after 2 warm-up ones)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one config per family, 3 repeats, 4 (+2) training iterations of the smallest mmdet config only",
    )
    parser.add_argument("--rounds", type=int, default=2, help="training runs of each tool, alternating the order")
    parser.add_argument("--no-train", action="store_true", help="skip the training comparison")
    parser.add_argument("--data", type=Path, help="cache folder for the synthetic training data (default: temp)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.iters = min(args.repeats, 3), min(args.iters, 4)
    configs = discover(args.configs, args.quick)
    if not configs:
        print("no config matches", file=sys.stderr)
        return 2
    import torch

    results: dict = {"cpu": measure(configs, args.size, args.batch, args.repeats, "cpu", count=True)}
    ok = all(r["status"] == "ok" for r in results["cpu"])
    print_models(results["cpu"], args.size, args.batch, f"Detectors on CPU at {args.size} px")
    mmdet_configs = [p for p in configs if engine_of(p) == "mmdet"]
    if args.quick:
        mmdet_configs = [p for p in mmdet_configs if "example" in p.stem][:1] or mmdet_configs[:1]
    with tempfile.TemporaryDirectory(prefix="cxrdet-bench-detectors-") as tmp:
        work = Path(tmp)
        data_dir = args.data or work
        if not args.no_train and mmdet_configs:
            data = make_data(data_dir, (args.iters + 2) * args.batch, args.size)
            results["train_cpu"] = compare_training(
                mmdet_configs, data, work / "cpu", args.size, args.batch, rounds=args.rounds
            )
            ok = (
                print_training(results["train_cpu"], f"Training on CPU at {args.size} px: cxrdet train vs mmdet") and ok
            )
        if torch.cuda.is_available():
            results["cuda"] = measure(configs, None, args.batch, args.repeats, "cuda", count=False)
            print_models(results["cuda"], "full", args.batch, "Detectors on CUDA at each config's full size")
            if not args.no_train and mmdet_configs:
                gpu_rows = []
                for path in mmdet_configs:
                    full = next((r["config_size"][0] for r in results["cpu"] if r.get("config") == str(path)), 1024)
                    data = make_data(data_dir, (args.iters + 2) * args.batch, full)
                    gpu_rows += compare_training(
                        [path], data, work / "cuda", full, args.batch, device="cuda", rounds=args.rounds
                    )
                results["train_cuda"] = gpu_rows
                ok = print_training(gpu_rows, "Training on CUDA at full size: cxrdet train vs mmdet") and ok
        else:
            print("\nno CUDA device: the full-size GPU inference and training runs are skipped")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
