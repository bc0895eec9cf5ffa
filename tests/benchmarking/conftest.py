"""Fixtures of the ``cxrdet benchmark`` tests: a real custom-model training run (fracture CNN, one fold, a few epochs).

The run is made once per session through the real path (the engine's ``train``: mmengine's Runner), so the
``--runs`` table reads what a real work dir holds and the metric test has a trained checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).parents[2] / "configs"
FRACTURE = CONFIGS / "fracture" / "fracture_example.py"


@pytest.fixture(scope="session")
def fracture_data(tmp_path_factory) -> Path:
    """``make-example --task fracture``: 24 slices (12 a class) of 80 px."""
    from cxrdet.example.fracture import make_fracture_example

    out = tmp_path_factory.mktemp("bench_fracture") / "data"
    make_fracture_example(out, n_per_class=12, seed=0, size=80)
    return out


@pytest.fixture(scope="session")
def fracture_run(fracture_data, tmp_path_factory):
    """``cxrdet train configs/fracture/fracture_example.py --fold 0`` for 2 epochs (one torch thread):
    ``(work_dir, data_root, TrainResult)``."""
    import torch

    from cxrdet.engines.base import engine_of_config

    work = tmp_path_factory.mktemp("bench_runs") / "fracture_example"
    options = {"data_root": str(fracture_data), "work_dir": str(work), "log_level": "WARNING"}
    options["train_cfg"] = {"max_epochs": 2}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        engine = engine_of_config(FRACTURE, options)
        (result,) = engine.train(engine.select_splits([0]))
    finally:
        torch.set_num_threads(threads)
    return work, fracture_data, result
