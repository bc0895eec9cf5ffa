"""Benchmark of ``cxrdet benchmark``'s own overhead: its YOLO latency against a hand-timed Ultralytics predictor loop.

``cxrdet benchmark CONFIG --imgsz N`` (the real command, in its own process, as a user runs it) reports a YOLO
config's latency at batch 1: the median of ``--repeats`` timed forward passes of the fused network on a
prepared tensor. This script times, in its own process, what a user would write by hand around Ultralytics'
predictor: ``YOLO(weights).predict(tensor)`` on the SAME tensor (the seeded ``1 x 3 x N x N`` input of
:meth:`cxrdet.benchmarking.detectors.Detector.inputs`) and the SAME weights (the engine's untrained checkpoint
of the config, whose seed makes it the network ``cxrdet benchmark`` builds), with the same warm-up and repeats.
The predictor's call adds its own small pre- and post-processing (device transfer, NMS, Results objects);
its per-call ``speed['inference']`` is printed beside it.

Two comparisons: (1) the command's figure against the hand loop, each side's fastest of ``--rounds`` runs,
alternating which goes first (the target: within 5 %); (2) in this process, cxrdet's timing code on the network
exactly as ``cxrdet benchmark`` prepares it (:func:`cxrdet.benchmarking.config_row.prepare_for_timing`, timed by
:func:`cxrdet.benchmarking.timing.latency`) against the predictor, alternating in short blocks so that both
see the same machine load (on a shared machine the separate runs of (1) can differ by 2x from load alone).


    .venv/bin/python benchmarks/benchmark_overhead.py [--config configs/yolo/yolov5s_1024-e40_vindr.py]
        [--imgsz 640] [--repeats 20] [--warmup 5] [--rounds 2] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 0.05


def cxrdet_latency(config: Path, imgsz: int, repeats: int, warmup: int, threads: int | None, out: Path) -> float:
    """``cxrdet benchmark``'s median latency (ms) of ``config``, read from its ``benchmark.json``."""
    command = [sys.executable, "-m", "cxrdet.cli", "benchmark", str(config), "--imgsz", str(imgsz)]
    command += ["--repeats", str(repeats), "--warmup", str(warmup), "-o", str(out), "--no-progress", "--overwrite"]
    if threads:
        command += ["--threads", str(threads)]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"cxrdet benchmark failed ({proc.returncode}): {proc.stderr[-2000:]}")
    (row,) = json.loads((out / "benchmark.json").read_text())["rows"]
    return float(row["latency_ms"])


def predictor(config: Path, imgsz: int, work: Path):
    """Ultralytics' ``YOLO`` on the engine's untrained checkpoint of ``config``, and the benchmark's input tensor."""
    from cxrdet.benchmarking.detectors import load_detector
    from cxrdet.config import resolve_path
    from cxrdet.engines.yolo.checkpoints import untrained_checkpoint
    from cxrdet.engines.yolo.config import resolve_config

    cfg = resolve_config(resolve_path(config), {})
    weights = untrained_checkpoint(cfg, work / "untrained.pt", png_size=int(cfg["ultralytics"]["imgsz"]))
    det = load_detector(config)  # only for the input: the same seeded tensor cxrdet benchmark feeds
    (tensor,) = det.inputs(1, imgsz)
    from ultralytics import YOLO

    return YOLO(str(weights), task="detect"), tensor


def hand_loop(model, tensor, imgsz: int, repeats: int, warmup: int) -> tuple[float, float]:
    """``(median ms per predict call, median of the predictor's own inference ms)``."""

    def call():
        return model.predict(tensor, imgsz=imgsz, device="cpu", half=False, verbose=False)

    for _ in range(warmup):
        call()
    seconds, inference = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        results = call()
        seconds.append(time.perf_counter() - start)
        inference.append(results[0].speed["inference"])
    return statistics.median(seconds) * 1e3, statistics.median(inference)


def interleaved(config: Path, model, tensor, imgsz: int, blocks: int, warmup: int) -> tuple[float, float]:
    """``(cxrdet's, the predictor's)`` ms: the median over ``blocks`` alternating blocks of their 5-call medians."""
    from cxrdet.benchmarking.config_row import load_network, prepare_for_timing
    from cxrdet.benchmarking.timing import latency

    net = load_network(config, "ultralytics")
    prepare_for_timing(net, "cpu")
    one = net.inputs(1, imgsz)
    ours, theirs = [], []
    for b in range(blocks):
        ours.append(latency(lambda: net.forward(*one), repeats=5, warmup=warmup if b == 0 else 1).median)
        total, _ = hand_loop(model, tensor, imgsz, repeats=5, warmup=warmup if b == 0 else 1)
        theirs.append(total / 1e3)
    return statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs/yolo/yolov5s_1024-e40_vindr.py")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch CPU threads of both sides (None: torch's default)")
    args = parser.parse_args()

    import torch

    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="cxrdet-overhead-") as tmp, ultralytics_sandbox(tmp):
        work = Path(tmp)
        model, tensor = predictor(args.config, args.imgsz, work)
        ours, theirs, inference = [], [], []
        for r in range(args.rounds):
            for side in ("cxrdet", "hand") if r % 2 == 0 else ("hand", "cxrdet"):
                if side == "cxrdet":
                    ours.append(
                        cxrdet_latency(args.config, args.imgsz, args.repeats, args.warmup, args.threads, work / "bench")
                    )
                else:
                    total, infer = hand_loop(model, tensor, args.imgsz, args.repeats, args.warmup)
                    theirs.append(total)
                    inference.append(infer)
                print(f"round {r}: {side} done", file=sys.stderr, flush=True)
        same_ours, same_theirs = interleaved(args.config, model, tensor, args.imgsz, args.rounds * 2, args.warmup)
    best_ours, best_theirs = min(ours), min(theirs)
    ratio = best_ours / best_theirs
    print(
        f"{args.config.name} at {args.imgsz} px, batch 1, {args.repeats} repeats after {args.warmup} warm-up calls, "
        f"{torch.get_num_threads()} torch threads, fastest of {args.rounds} runs a side"
    )
    print(f"cxrdet benchmark latency:           {best_ours:8.2f} ms   (runs: {', '.join(f'{v:.2f}' for v in ours)})")
    print(
        f"hand-timed YOLO.predict(tensor):    {best_theirs:8.2f} ms   (runs: {', '.join(f'{v:.2f}' for v in theirs)})"
    )
    print(f"  its own speed['inference']:       {min(inference):8.2f} ms")
    print(
        f"interleaved in one process: cxrdet's timing {same_ours:.2f} ms, YOLO.predict {same_theirs:.2f} ms, "
        f"ratio {same_ours / same_theirs:.3f}"
    )
    verdict = "OK" if abs(ratio - 1) <= TARGET else "OUTSIDE"
    print(f"ratio cxrdet / hand loop: {ratio:.3f} -> {verdict} the {TARGET:.0%} target")
    return 0 if abs(ratio - 1) <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
