"""Benchmark of cxrdet's custom models (fracture CNNs, TJ-Net, the VinDr normal/abnormal classifier, GAIN, the
U-Net family, the feature GAN).

For every config under ``configs/fracture/``, ``bone_age/``, ``classifier/``, ``gain/``, ``segmentation/`` and
``feature_gan/`` (or those ``--configs`` names), with random weights and nothing downloaded:

* parameters, and GFLOPs at the config's own input size in both conventions (mmengine's FlopAnalyzer, as
  mmdet's ``get_flops.py``: a multiply-add is one FLOP; Ultralytics' tables: two);
* CPU training images/s of the full-size model through ``cxrdet train`` (mmengine's Runner) against a plain
  PyTorch loop on the same model, data, batch and optimiser, in the same run
  (:mod:`cxrdet.benchmarking.task_training`; target >= 0.9x: the shared Runner must not cost speed). Each
  tool runs ``--rounds`` times, each run in a fresh process, alternating which goes first; a tool's figure is
  its fastest run's. On a shared VM runs minutes apart see different machines, so the verdict is the PAIRED
  figure: ``--rounds`` more ``cxrdet train`` runs each carry the plain loop, interleaved iteration by iteration in
  the same process (:mod:`cxrdet.benchmarking.interleaved`), and the median over pairs of their speed ratio is
  the Runner's cost.

    .venv/bin/python benchmarks/models.py [--configs NAME ...] [--size N] [--batch 2] [--iters 10]
        [--rounds 2] [--no-train] [--json OUT]

``--size`` replaces every Resize / CenterCrop size (None: each config's own; AlexNet's classifier is sized for
its 400 px crop, so fracture configs keep theirs). The synthetic data sets are cached under ``--data``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cxrdet.benchmarking.counting import MMDET_CONVENTION, ULTRALYTICS_CONVENTION  # noqa: E402
from cxrdet.benchmarking.task_training import TASK_DIRS  # noqa: E402

TARGET = 0.9


def discover(patterns: list[str] | None) -> list[Path]:
    """Every custom-model config (not ``_base_``), those whose name contains one of ``patterns``."""
    found = sorted(p for d in TASK_DIRS for p in (ROOT / d).glob("*.py"))
    if patterns:
        found = [p for p in found if any(pat in p.stem for pat in patterns)]
    return found


def complexity(path: Path) -> dict:
    """Parameters and GFLOPs of the config's model at its input size (1 image)."""
    import torch

    from cxrdet.benchmarking.counting import count_complexity
    from cxrdet.config import read_config
    from cxrdet.engines.runner.task_engine import _input_size
    from cxrdet.engines.runner.task_model import build_task_model

    cfg = read_config(path)
    model = build_task_model(cfg).eval()
    size = _input_size(cfg) or 224
    channels = len((cfg.model.get("data_preprocessor") or cfg.get("data_preprocessor") or {}).get("mean") or [0])

    def forward(m, x):
        out = m(x, mode="tensor")
        return out if isinstance(out, torch.Tensor) else next(v for v in out.values() if isinstance(v, torch.Tensor))

    result = count_complexity(model, torch.zeros(1, channels, size, size), forward=forward)
    return {"params": result.params, "gflops_mmdet": result.macs / 1e9, "size": size}


def compare_training(path: Path, data_dir: Path, work: Path, size: int | None, batch: int, iters: int, rounds: int):
    """Fastest run of each tool, each run in a fresh process: ``cxrdet train`` and the plain loop; and ``paired``,
    the median over ``rounds`` interleaved runs of their per-pair ratio (:mod:`cxrdet.benchmarking.interleaved`)."""
    from cxrdet.benchmarking.interleaved import interleaved_config, read_interleaved
    from cxrdet.benchmarking.task_training import make_task_data, plain_loop_in_process, task_bench_config
    from cxrdet.benchmarking.training import train_with_cxrdet
    from cxrdet.config import read_config
    from cxrdet.engines.runner.task_engine import _input_size

    own = _input_size(read_config(path)) or 224
    data = make_task_data(
        path, data_dir / f"{path.parent.name}_{size or own}", n=max(8, (iters + 3) * batch), size=size or own
    )
    cfg = task_bench_config(path, work / path.stem / "bench_config.py", data, batch=batch, size=size)
    best: dict[str, float] = {}
    for r in range(rounds):
        order = ("cxrdet", "plain") if r % 2 == 0 else ("plain", "cxrdet")
        for tool in order:
            if tool == "cxrdet":
                speed = train_with_cxrdet(cfg, data, work / path.stem / f"cxrdet_{r}", batch, skip=2, timeout=3600)
            else:
                speed = plain_loop_in_process(cfg, data, iters=iters, timeout=3600)
            best[tool] = max(best.get(tool, 0.0), speed.images_per_second)
    interleaved = []
    for r in range(rounds):
        run = work / path.stem / f"interleaved_{r}"
        paired = interleaved_config(cfg, run / "config.py", data)
        train_with_cxrdet(paired, data, run, batch, skip=2, timeout=3600)
        interleaved.append(read_interleaved(run).ratio)
    best["paired"] = statistics.median(interleaved)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", help="config names (substrings) to benchmark (None: all)")
    parser.add_argument("--size", type=int, help="input size of every Resize/CenterCrop (None: each config's)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10, help="timed training iterations (2 more as warm-up)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-train", action="store_true", help="only parameters and GFLOPs")
    parser.add_argument("--data", type=Path, help="cache folder of the synthetic data sets (None: a temp folder)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()

    configs = discover(args.configs)
    if not configs:
        print("no config matches", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="cxrdet-bench-models-"))
    data_dir = args.data or work / "data"
    rows = []
    for i, path in enumerate(configs, 1):
        print(f"[{i}/{len(configs)}] {path.relative_to(ROOT)}", file=sys.stderr, flush=True)
        row: dict = {"name": path.stem}
        try:
            row.update(complexity(path))
            if not args.no_train:
                speeds = compare_training(path, data_dir, work, args.size, args.batch, args.iters, args.rounds)
                row.update(
                    cxrdet=speeds["cxrdet"],
                    plain=speeds["plain"],
                    ratio=speeds["cxrdet"] / speeds["plain"],
                    paired=speeds["paired"],
                )
            row["status"] = "ok"
        except Exception as err:  # one config's failure is its row's, the others still run
            row["status"] = f"failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        rows.append(row)

    print(f"GFLOPs at each config's input size: mmdet = {MMDET_CONVENTION}; UL = {ULTRALYTICS_CONVENTION}")
    at = f"{args.size} px" if args.size else "each config's own size"
    print(
        f"training: CPU at {at}, batch {args.batch}, {args.iters} timed iterations, fastest of {args.rounds} runs per "
        "tool ('size' is the config's own input size, of the parameter and GFLOPs columns); 'paired': Runner / plain "
        "speed, median over pairs of iterations interleaved in one run (median of the rounds); the verdict is the "
        "paired figure's, the separate runs' ratio is shown for reference"
    )
    columns = [
        ("params", "", 12),
        ("size", "", 5),
        ("GFLOPs", "(mmdet)", 8),
        ("GFLOPs", "(UL)", 8),
        ("Runner", "img/s", 8),
        ("plain", "img/s", 8),
        ("ratio", "", 6),
        ("paired", "", 6),
    ]
    print(f"{'config':<44} " + " ".join(f"{top:>{width}}" for top, _, width in columns))
    print(f"{'':<44} " + " ".join(f"{low:>{width}}" for _, low, width in columns) + "  verdict")
    failed = False
    for r in rows:
        if "params" not in r:
            print(f"{r['name']:<44} {r['status']}")
            failed = True
            continue
        speed = (
            ""
            if "ratio" not in r
            else f" {r['cxrdet']:>8.2f} {r['plain']:>8.2f} {r['ratio']:>6.2f} {r['paired']:>6.2f}"
        )
        verdict = "" if "paired" not in r else ("  OK" if r["paired"] >= TARGET else f"  BELOW TARGET {TARGET}x")
        if r["status"] != "ok":
            verdict, failed = f"  {r['status']}", True
        print(
            f"{r['name']:<44} {r['params']:>12,} {r['size']:>5} {r['gflops_mmdet']:>8.3f} "
            f"{2 * r['gflops_mmdet']:>8.3f}{speed}{verdict}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
