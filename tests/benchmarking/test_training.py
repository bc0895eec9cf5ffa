"""cxrdet.benchmarking.training: the derived config both tools train, and the iteration times read back."""

from __future__ import annotations

import json
import os

import pytest

from cxrdet.benchmarking.training import TrainSpeed, bench_config, iteration_times, mmdet_train_script


def test_bench_config_resizes_every_pipeline_and_runs_one_quiet_epoch(tmp_path):
    from mmdet_tiny import write_tiny_set
    from mmengine.config import Config

    config = write_tiny_set(tmp_path / "set")
    out = bench_config(config, tmp_path / "bench.py", data_root=tmp_path / "data", size=96, batch=3)
    cfg = Config.fromfile(str(out))
    root = str((tmp_path / "data").resolve())
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg[name]
        assert loader.num_workers == 0 and loader.persistent_workers is False
        assert loader.dataset.data_root == root and loader.dataset.ann_file == "coco/all.json"
        resize = [s for s in loader.dataset.pipeline if s["type"] == "Resize"]
        assert len(resize) == 1 and tuple(resize[0]["scale"]) == (96, 96) and resize[0]["keep_ratio"]
    assert cfg.train_dataloader.batch_size == 3
    assert cfg.train_cfg == {"type": "EpochBasedTrainLoop", "max_epochs": 1, "val_interval": 10**6}
    assert cfg.default_hooks.logger.interval == 1
    assert cfg.log_processor.window_size == 1  # per-iteration times, not a moving average
    assert cfg.model.bbox_head.num_classes == 2  # the model itself is untouched


def test_iteration_times_of_the_newest_run(tmp_path):
    old = tmp_path / "20260101_000000" / "vis_data"
    new = tmp_path / "20260102_000000" / "vis_data"
    for folder in (old, new):
        folder.mkdir(parents=True)
    (old / "scalars.json").write_text(json.dumps({"loss": 1.0, "time": 9.0}) + "\n")
    lines = [
        {"lr": 0.01, "loss": 2.0, "time": 1.5, "data_time": 0.1, "iter": 1},
        {"lr": 0.01, "loss": 1.8, "time": 0.5, "data_time": 0.1, "iter": 2},
        {"vindr/mAP": 0.1, "time": 3.0, "step": 1},  # a validation line: no loss
        {"lr": 0.01, "loss": 1.7, "time": 0.7, "data_time": 0.1, "iter": 3},
        {"loss_d": 0.6, "loss_g": 0.9, "time": 0.8, "data_time": 0.1, "iter": 4},  # the feature GAN: parts only
    ]
    (new / "scalars.json").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    os.utime(old / "scalars.json", (1, 1))
    assert iteration_times(tmp_path) == [1.5, 0.5, 0.7, 0.8]
    assert iteration_times(tmp_path / "nothing") == []


def test_train_speed():
    speed = TrainSpeed("mmdet train.py", (0.5, 0.7, 0.6, 2.0), batch=4, wall_seconds=30.0)
    assert speed.median_iteration == pytest.approx(0.65)
    assert speed.images_per_second == pytest.approx(4 / 0.65)


def test_mmdets_own_train_script_is_in_the_wheel():
    script = mmdet_train_script()
    assert script.is_file() and script.parts[-3:] == (".mim", "tools", "train.py")
