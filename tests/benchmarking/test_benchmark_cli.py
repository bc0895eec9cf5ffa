"""``cxrdet benchmark CONFIG...``: the small CPU example config of each engine, and a broken one, in one run.

One run (each config in its own process, one torch thread, 64 px, 2 timed repeats) of the YOLO, MMDetection and
fracture-CNN examples and a config whose backbone does not exist, the fracture config with a checkpoint trained
by the session fixture. Checked: the exit status (1: a config failed) and the failed row's reason while the
others were measured; the files and the table's columns; the counts against each tool's own (Ultralytics'
``model.info()``, mmdet's ``tools/analysis_tools/get_flops.py`` from the mmdet wheel, and a hand count of the
6,066-parameter VGG); the metric against ``cxrdet test`` and the Runner's own best score; the machine record.
Also the training speed through the real trainers (``cxrdet train`` for the custom model, Ultralytics' trainer
for YOLO) and the command's refusals.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from cxrdet.benchmarking.counting import MMDET_CONVENTION, ULTRALYTICS_CONVENTION
from cxrdet.benchmarking.report import CSV_COLUMNS, FILES

pytestmark = pytest.mark.slow  # real runs: configs in their own processes, a Runner training

CONFIGS = Path(__file__).parents[2] / "configs"
YOLO = CONFIGS / "yolo" / "yolov5n_192-e20_example.py"
RETINANET = CONFIGS / "mmdet" / "retinanet_r18_fpn_160-e12_example.py"
FRACTURE = CONFIGS / "fracture" / "fracture_example.py"
BROKEN = f"""_base_ = ["{YOLO}"]
model = "yolov5q"  # no such YOLOv5 size: the engine refuses to build it
"""
SIZE = 64


def _main(argv) -> tuple[int, str]:
    from cxrdet.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in argv])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def bench(fracture_run, tmp_path_factory):
    """The one benchmark run: ``(out folder, exit status, stdout, seconds, {name: row}, fracture TrainResult)``."""
    _, data, result = fracture_run
    tmp = tmp_path_factory.mktemp("bench")
    broken = tmp / "broken_model.py"
    broken.write_text(BROKEN)
    out = tmp / "report"
    argv = ["benchmark", YOLO, RETINANET, FRACTURE, broken]
    for checkpoint in ("-", "-", result.best, "-"):
        argv += ["--checkpoint", checkpoint]
    argv += ["--data-root", data, "--imgsz", SIZE, "--batch", 2, "--repeats", 2, "--warmup", 1, "--threads", 1]
    start = time.perf_counter()
    code, text = _main([*argv, "-o", out, "--no-progress"])
    seconds = time.perf_counter() - start
    rows = {r["name"]: r for r in json.loads((out / "benchmark.json").read_text())["rows"]}
    return out, code, text, seconds, rows, result


def test_a_broken_config_is_a_failed_row_and_the_others_are_measured(bench):
    _, code, text, seconds, rows, _ = bench
    assert code == 1  # non-zero at the end, after every config ran
    assert list(rows) == [
        "yolov5n_192-e20_example",
        "retinanet_r18_fpn_160-e12_example",
        "fracture_example",
        "broken_model",
    ]
    broken = rows["broken_model"]
    assert broken["status"] == "failed" and broken["error"].startswith("ConfigError: model='yolov5q': expected yolov5n")
    assert all(rows[n]["status"] == "ok" for n in list(rows)[:3])
    assert "| broken_model | - |" in text and "failed: ConfigError: model='yolov5q'" in text
    print(f"benchmark of 4 configs: {seconds:.1f} s")


def test_files_and_the_tables_columns(bench):
    out, _, _, _, rows, _ = bench
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    table = pd.read_csv(out / "benchmark.csv")
    assert list(table.columns) == list(CSV_COLUMNS) and len(table) == 4
    ok = table[table["status"] == "ok"]
    assert list(ok["engine"]) == ["ultralytics", "mmdet", "mmengine"]
    assert (ok["input_h"] == SIZE).all() and (ok["input_w"] == SIZE).all()
    assert (ok["latency_ms"] > 0).all() and (ok["latency_iqr_ms"] >= 0).all() and (ok["latency_repeats"] == 2).all()
    assert (ok["throughput_img_s"] > 0).all() and (ok["batch"] == 2).all()
    assert (ok["peak_rss_mb"] > 100).all() and ok["cuda_max_allocated_mb"].isna().all()  # a torch process, on CPU
    for r in list(rows.values())[:3]:
        assert r["threads"] == 1 and r["latency"]["q1_ms"] <= r["latency_ms"] <= r["latency"]["q3_ms"]
        assert r["peak_rss_mb"] <= r["process_peak_rss_mb"]  # read after the timing; the process went on
    md = (out / "benchmark.md").read_text()
    assert MMDET_CONVENTION in md and ULTRALYTICS_CONVENTION in md
    assert "yolov5nu (YOLOv5u)" in md and "s has 9.1 M parameters, the write-up's original YOLOv5s 7.3 M" in md
    assert "| fracture_example | mmengine | ImageClassifier VGG | 64x64 | 0.006 |" in md
    assert (out / "speed_vs_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    machine = json.loads((out / "benchmark.json").read_text())["machine"]
    assert machine["cpu"] and machine["cpu_count"] >= 1 and machine["gpu"] is None
    assert machine["versions"]["torch"] == __import__("torch").__version__ and "cuda" in machine


def test_yolo_counts_equal_ultralytics_model_info(bench, tmp_path):
    import torch

    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    row = bench[4]["yolov5n_192-e20_example"]
    with ultralytics_sandbox(tmp_path):
        from ultralytics.nn.tasks import DetectionModel

        model = DetectionModel("yolov5nu.yaml", nc=14, verbose=False)  # VinDr's 14 findings
        _, params, _, gflops = model.info(imgsz=SIZE)  # (layers, parameters, gradients, GFLOPs)
    assert row["params"] == params == 2_511_194
    assert row["gflops_ultralytics"] == pytest.approx(gflops, rel=0.02)  # THOP at a square input
    assert row["gflops_mmdet"] == pytest.approx(gflops / 2, rel=0.02)
    assert torch.get_num_threads() >= 1


def _get_flops(config: Path) -> dict:
    """mmdet's own ``get_flops.py`` (from the mmdet wheel) on ``config`` over one real image, in this process."""
    import argparse
    import importlib.util

    from mmengine.logging import MMLogger

    import cxrdet.datasets  # noqa: F401 - registers the grey PNG loader the config reads with

    script = Path(__import__("mmdet").__file__).parent / ".mim" / "tools" / "analysis_tools" / "get_flops.py"
    spec = importlib.util.spec_from_file_location("mmdet_get_flops_cli", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = argparse.Namespace(config=str(config), num_images=1, cfg_options=None)
    return module.inference(args, MMLogger.get_instance("mmdet-get-flops-cli"))


def _number(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)([KMGTP]?)", text).groups()
    return float(value) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}[unit]


def test_mmdet_counts_equal_get_flops(bench, converted_example, tmp_path):
    from cxrdet.config import read_config

    row = bench[4]["retinanet_r18_fpn_160-e12_example"]
    cfg = read_config(RETINANET)  # the example, its test images resized to the benchmark's 64 px
    for loader in (cfg.val_dataloader, cfg.test_dataloader):  # get_flops.py reads the validation loader
        loader.update(num_workers=0, persistent_workers=False)
        loader.dataset.update(data_root=str(converted_example), ann_file="coco/all.json")
        for step in loader.dataset.pipeline:
            if step["type"] == "Resize":
                step["scale"] = (SIZE, SIZE)
    cfg.dump(str(tmp_path / "retinanet_64.py"))
    theirs = _get_flops(tmp_path / "retinanet_64.py")
    assert tuple(theirs["pad_shape"]) == (SIZE, SIZE)
    # get_flops prints 3 decimals of its unit (3.324M, 60.585M): equal up to that rounding
    assert row["params"] == pytest.approx(_number(theirs["params"]), abs=0.0005e6)
    assert row["gflops_mmdet"] * 1e9 == pytest.approx(_number(theirs["flops"]), abs=0.0005 * 1e6)
    assert row["gflops_ultralytics"] == pytest.approx(2 * row["gflops_mmdet"])


def test_custom_model_counts_by_hand(bench):
    row = bench[4]["fracture_example"]
    # VGG 8-16-32 (3x3 conv + BN a stage, 2x2 max-pools), global average, FC 2, one grey channel
    convs = (1 * 9 * 8 + 8) + (8 * 9 * 16 + 16) + (16 * 9 * 32 + 32)
    assert row["params"] == convs + 2 * (8 + 16 + 32) + (32 * 2 + 2) == 6_066
    # multiply-adds at 64 px: convs at 64, 32, 16 px; BN 2 a value (eval: scale and shift); the global
    # average over the last 8 x 8 map 1 a value; the FC layer
    conv_macs = 8 * 64 * 64 * 9 * 1 + 16 * 32 * 32 * 9 * 8 + 32 * 16 * 16 * 9 * 16
    bn = 2 * (8 * 64 * 64 + 16 * 32 * 32 + 32 * 16 * 16)
    assert row["gflops_mmdet"] * 1e9 == pytest.approx(conv_macs + bn + 32 * 8 * 8 + 32 * 2, abs=0.5)


def test_the_metric_is_cxrdet_tests(bench, fracture_run, tmp_path):
    _, data, result = fracture_run
    row = bench[4]["fracture_example"]
    code, text = _main(["test", FRACTURE, result.best, "--data-root", data, "--work-dir", tmp_path])
    assert code == 0
    printed = {k: float(v) for k, v in re.findall(r"^(cls/\w+): ([\d.]+)$", text, re.M)}
    assert row["metric"] == "cls/accuracy" and row["metric_value"] == pytest.approx(printed["cls/accuracy"], abs=5e-5)
    assert row["metric_value"] == pytest.approx(result.score)  # the Runner's own best score of that checkpoint
    assert set(printed) <= set(row["metrics"]) and row["checkpoint"] == str(result.best)
    for name in ("yolov5n_192-e20_example", "retinanet_r18_fpn_160-e12_example"):
        assert bench[4][name]["metric"] is None  # no checkpoint, no metric


def test_training_speed_through_cxrdet_train(fracture_run, tmp_path):
    from cxrdet.benchmarking.train_speed import config_train_speed
    from cxrdet.benchmarking.training import iteration_times

    _, data, _ = fracture_run
    speed = config_train_speed(FRACTURE, "mmengine", data, tmp_path, iters=3, batch=4, skip=2)
    assert speed.tool == "cxrdet train" and speed.batch == 4 and len(speed.iteration_seconds) == 3
    assert speed.images_per_second == pytest.approx(4 / speed.median_iteration) and speed.images_per_second > 0
    # the Runner trained exactly the 2 + 3 iterations: its training set was cut to 5 batches of 4
    assert len(iteration_times(tmp_path / "run")) == 5
    from mmengine.config import Config

    derived = Config.fromfile(str(tmp_path / "bench_config.py"))
    assert derived.train_dataloader.dataset.indices == 20 and derived.train_dataloader.batch_size == 4


def test_training_speed_through_ultralytics_trainer(converted_example, tmp_path):
    from cxrdet.benchmarking.yolo_training import yolo_train_speed

    speed = yolo_train_speed(YOLO, converted_example, tmp_path, batch=2, iters=2, skip=1, imgsz=SIZE)
    assert speed.tool == "Ultralytics trainer" and len(speed.iteration_seconds) == 2 and speed.images_per_second > 0
    assert not list(tmp_path.rglob("best.pt"))  # stopped after the iterations: no validation, no checkpoint


def test_refusals(tmp_path, caplog):
    out = tmp_path / "report"
    out.mkdir()
    (out / "benchmark.csv").write_text("a user's table")
    code, _ = _main(["benchmark", FRACTURE, "-o", out, "--no-progress"])  # refused before anything is measured
    assert (
        code == 1
        and "benchmark.csv: exists already" in caplog.text
        and sorted(out.iterdir()) == [out / "benchmark.csv"]
    )
    caplog.clear()
    assert _main(["benchmark", FRACTURE, "--half", "-o", tmp_path / "a"])[0] == 1 and "needs a CUDA" in caplog.text
    caplog.clear()
    assert _main(["benchmark", FRACTURE, YOLO, "--checkpoint", "x.pth", "-o", tmp_path / "b"])[0] == 1
    assert "1 --checkpoint for 2 configs" in caplog.text
    caplog.clear()
    assert _main(["benchmark", "-o", tmp_path / "c"])[0] == 1 and "give CONFIG... or --runs" in caplog.text
