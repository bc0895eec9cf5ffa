"""cxrdet.benchmarking.task_training: the derived custom-model config and the plain loop in its own process."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxrdet.benchmarking.task_training import plain_loop_in_process, task_bench_config

CONFIG = Path(__file__).parents[2] / "configs" / "fracture" / "fracture_example.py"


@pytest.fixture(scope="module")
def fracture_bench(tmp_path_factory):
    from cxrdet.example.fracture import make_fracture_example

    root = tmp_path_factory.mktemp("task_training")
    data = make_fracture_example(root / "data", n_per_class=6, seed=0, size=96).out_dir
    return task_bench_config(CONFIG, root / "bench.py", data, batch=3, size=64), data


def test_bench_config_resizes_and_runs_one_logged_epoch(fracture_bench):
    from mmengine.config import Config

    config, data = fracture_bench
    cfg = Config.fromfile(str(config))
    assert cfg.data_root == str(Path(data).resolve())
    assert cfg.train_dataloader.batch_size == 3 and cfg.train_dataloader.num_workers == 0
    sizes = [s.get("scale") or s.get("crop_size") for s in cfg.train_dataloader.dataset.pipeline]
    assert (64, 64) in [tuple(s) if isinstance(s, (list, tuple)) else (s, s) for s in sizes if s is not None]
    assert cfg.train_cfg.max_epochs == 1 and cfg.default_hooks.logger.interval == 1
    assert "param_scheduler" not in cfg


def test_plain_loop_runs_in_a_fresh_process_and_times_each_iteration(fracture_bench):
    config, data = fracture_bench
    speed = plain_loop_in_process(config, data, iters=3, timeout=300)
    assert speed.tool == "plain PyTorch loop" and speed.batch == 3
    assert len(speed.iteration_seconds) == 3 and all(t > 0 for t in speed.iteration_seconds)
    assert speed.wall_seconds >= sum(speed.iteration_seconds)


def test_a_failing_plain_loop_names_its_exit_status(tmp_path):
    from cxrdet.benchmarking.training import TrainingError

    with pytest.raises(TrainingError, match="exit status"):
        plain_loop_in_process(tmp_path / "missing.py", tmp_path, iters=1, timeout=120)
