"""Benchmarking, the report of ``cxrdet benchmark``: ``benchmark.md``, ``.csv``, ``.json``, ``speed_vs_accuracy.png``.

The rows are :func:`cxrdet.benchmarking.config_row.benchmark_config`'s (a failed config's row has its
``status`` and ``error``). The markdown states the machine, the settings and the GFLOPs conventions (both are
printed: mmdet's, where a multiply-add is one FLOP, and Ultralytics', where it is two), and notes that
Ultralytics' YOLOv5 is YOLOv5u. The chart puts each config's metric against its latency (one labelled point a
config, one panel per metric), or its parameters against its latency when no config has a metric. Every
file is written atomically (:mod:`cxrdet.io.atomic`); the figure is drawn with matplotlib's Agg canvas, with
the fonts that ship with matplotlib.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cxrdet.benchmarking.counting import MMDET_CONVENTION, ULTRALYTICS_CONVENTION

FILES = ("benchmark.md", "benchmark.csv", "benchmark.json", "speed_vs_accuracy.png")
"""What :func:`write_benchmark_report` writes into its folder."""

CSV_COLUMNS = (
    "config",
    "name",
    "engine",
    "model",
    "input_h",
    "input_w",
    "params",
    "gflops_mmdet",
    "gflops_ultralytics",
    "latency_ms",
    "latency_iqr_ms",
    "latency_q1_ms",
    "latency_q3_ms",
    "latency_repeats",
    "batch",
    "throughput_img_s",
    "peak_rss_mb",
    "cuda_max_allocated_mb",
    "train_img_s",
    "train_batch",
    "train_iters",
    "metric",
    "metric_value",
    "checkpoint",
    "device",
    "half",
    "status",
    "error",
)


def _num(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """One row as the CSV's columns (:data:`CSV_COLUMNS`)."""
    size = row.get("input_size") or [None, None]
    lat = row.get("latency") or {}
    train = row.get("train") or {}
    out = {key: row.get(key) for key in CSV_COLUMNS}
    out.update(
        input_h=size[0],
        input_w=size[1],
        latency_q1_ms=lat.get("q1_ms"),
        latency_q3_ms=lat.get("q3_ms"),
        latency_repeats=lat.get("repeats"),
        train_batch=train.get("batch"),
        train_iters=train.get("iters"),
    )
    return out


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], lines: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table (``|`` inside cells escaped)."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in line) + " |" for line in lines]
    return "\n".join(out)


def _model(row: dict[str, Any]) -> str:
    model = row.get("model") or "-"
    return f"{model} (YOLOv5u)" if row.get("engine") == "ultralytics" else model


def benchmark_markdown(rows: Sequence[dict[str, Any]], machine: dict[str, Any], settings: dict[str, Any]) -> str:
    """The text of ``benchmark.md``: machine, settings, conventions, the table, notes and failures."""
    from cxrdet.benchmarking.machine import describe_machine

    batch = settings.get("batch", 1)
    headers = [
        "config",
        "engine",
        "model",
        "input",
        "params (M)",
        "GFLOPs (mmdet)",
        "GFLOPs (Ultralytics)",
        "latency ms (b1, median ± IQR)",
        f"img/s (b{batch})",
        "peak memory MB",
        "train img/s",
        "metric",
        "status",
    ]
    lines = []
    for r in rows:
        if r.get("status") != "ok":
            lines.append([r.get("name"), r.get("engine") or "-", "-", *["-"] * 9, f"failed: {r.get('error')}"])
            continue
        h, w = r["input_size"]
        memory = r.get("cuda_max_allocated_mb") if r.get("cuda_max_allocated_mb") is not None else r["peak_rss_mb"]
        kind = "CUDA max allocated" if r.get("cuda_max_allocated_mb") is not None else "RSS"
        metric = "-" if r.get("metric_value") is None else f"{r['metric']} {r['metric_value']:.4f}"
        lines.append(
            [
                r["name"],
                r["engine"],
                _model(r),
                f"{h}x{w}",
                _num(r["params"] / 1e6, ".3f"),
                _num(r["gflops_mmdet"], ".3f"),
                _num(r["gflops_ultralytics"], ".3f"),
                f"{r['latency_ms']:.2f} ± {r['latency_iqr_ms']:.2f}",
                _num(r["throughput_img_s"], ".1f"),
                f"{memory:.0f} ({kind})",
                _num(r.get("train_img_s"), ".2f"),
                metric,
                "ok",
            ]
        )
    size = (
        f"{settings['imgsz']} px (padded to each network's size divisor)"
        if settings.get("imgsz")
        else "each config's own"
    )
    text = [
        "# cxrdet benchmark",
        "",
        f"Machine: {describe_machine(machine)}.",
        f"Device: {settings.get('device')}{' (half precision)' if settings.get('half') else ''}"
        + (f", {settings['threads']} CPU thread(s) per measurement" if settings.get("threads") else "")
        + f"; input size: {size}; "
        f"latency over {settings.get('repeats')} timed calls after {settings.get('warmup')} warm-up ones; "
        f"throughput at batch {batch}"
        + (f"; training: {settings['train_iters']} iterations" if settings.get("train_iters") else "")
        + ".",
        "",
        f"GFLOPs at the input size, two conventions: **mmdet** = {MMDET_CONVENTION}; **Ultralytics** = "
        f"{ULTRALYTICS_CONVENTION} (twice the mmdet figure). Parameters: every parameter element, counted once.",
        "Latency and throughput: the network forward on prepared tensors (mmdet `mode='tensor'`, custom models "
        "`mode='tensor'`, YOLO's raw head output, Conv+BN fused and channels-last on x86 CPUs as Ultralytics' "
        "predictor runs it; no NMS, no image decoding). Peak memory: each config in its own process, after the "
        "timing runs (RSS on CPU, "
        "torch's max allocated on CUDA). Training img/s: the engine's real trainer (Ultralytics' trainer or "
        "mmengine's Runner through `cxrdet train`), data loading included.",
        "",
        markdown_table(headers, lines),
        "",
    ]
    if any(r.get("engine") == "ultralytics" for r in rows):
        from cxrdet.benchmarking.config_row import YOLOV5U_NOTE

        text += [f"Note: {YOLOV5U_NOTE}.", ""]
    failed = [r for r in rows if r.get("status") != "ok"]
    if failed:
        text += ["Failed configs:", ""] + [f"- `{r.get('config')}`: {r.get('error')}" for r in failed] + [""]
    return "\n".join(text)


def _label_points(ax, xs, ys, labels) -> None:
    ax.scatter(xs, ys, s=24)
    for x, y, label in zip(xs, ys, labels):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, annotation_clip=False)
    if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")  # latencies of a tiny CNN and a detector differ by orders of magnitude
    ax.margins(x=0.25, y=0.12)


def plot_speed_vs_accuracy(rows: Sequence[dict[str, Any]], out: str | os.PathLike) -> Path:
    """``speed_vs_accuracy.png``: metric against latency, one labelled point a config and one panel a metric
    name; parameters (M) against latency when no row has a metric. Written atomically."""
    from matplotlib.figure import Figure

    from cxrdet.io.atomic import atomic_path

    ok = [r for r in rows if r.get("status") == "ok"]
    scored = [r for r in ok if r.get("metric_value") is not None]
    panels: dict[str, list[dict[str, Any]]] = {}
    for r in scored:
        panels.setdefault(str(r["metric"]), []).append(r)
    fig = Figure(figsize=(5.5 * max(1, len(panels)), 4.2))
    if panels:
        for i, (metric, group) in enumerate(panels.items(), 1):
            ax = fig.add_subplot(1, len(panels), i)
            _label_points(
                ax, [r["latency_ms"] for r in group], [r["metric_value"] for r in group], [r["name"] for r in group]
            )
            ax.set_xlabel("latency per image, batch 1 (ms)")
            ax.set_ylabel(metric)
            ax.set_title(f"{metric} vs latency", fontsize=9)
    else:
        ax = fig.add_subplot(1, 1, 1)
        _label_points(ax, [r["latency_ms"] for r in ok], [r["params"] / 1e6 for r in ok], [r["name"] for r in ok])
        ax.set_xlabel("latency per image, batch 1 (ms)")
        ax.set_ylabel("parameters (M)")
        ax.set_title("parameters vs latency (no checkpoint: no metric)", fontsize=9)
        if not ok:
            ax.text(0.5, 0.5, "no config was measured", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")  # labels beyond the axes included
    return out


def write_benchmark_report(
    out_dir: str | os.PathLike,
    rows: Sequence[dict[str, Any]],
    machine: dict[str, Any],
    settings: dict[str, Any],
    check: Callable[[Path], Path] | None = None,
) -> list[Path]:
    """Writes :data:`FILES` into ``out_dir`` (atomically); returns their paths.

    Args:
        out_dir: the folder (created).
        rows: one per config.
        machine: :func:`cxrdet.benchmarking.machine.machine_record`.
        settings: the run's settings (device, imgsz, batch, repeats, ...), recorded in the JSON and the markdown.
        check: called on each path before anything is written (e.g. the command's overwrite guard).
    """
    import pandas as pd

    from cxrdet.io.atomic import write_csv, write_text

    out_dir = Path(out_dir)
    paths = [out_dir / name for name in FILES]
    for path in paths:
        if check is not None:
            check(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv, js, png = paths
    write_text(md, benchmark_markdown(rows, machine, settings))
    write_csv(csv, pd.DataFrame([flat_row(r) for r in rows], columns=list(CSV_COLUMNS)))
    conventions = {"gflops_mmdet": MMDET_CONVENTION, "gflops_ultralytics": ULTRALYTICS_CONVENTION}
    write_text(
        js,
        json.dumps(
            {"machine": machine, "settings": settings, "conventions": conventions, "rows": list(rows)}, indent=1
        ),
    )
    plot_speed_vs_accuracy(rows, png)
    return paths
