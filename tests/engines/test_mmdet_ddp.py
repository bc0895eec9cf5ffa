"""``cxrdet train ... --launcher pytorch`` under torchrun: 2 CPU processes train data-parallel over gloo.

mmengine's own pytorch launcher would call ``torch.cuda.set_device`` and wrap the model with
``device_ids=[LOCAL_RANK]``; the engine initialises gloo first and wraps with ``device_ids=None``
(:mod:`cxrdet.engines.runner.distributed`). ``log_level=DEBUG`` makes mmengine write one log per rank, so the
test can see that each rank ran its share of the iterations; only rank 0 writes the checkpoint.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).parent / "mmdet_tiny_retinanet.py"
pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out


def test_two_cpu_ranks_train_one_model(converted_example, tmp_path):
    shutil.copytree(converted_example, tmp_path / "data")
    work = tmp_path / "work"
    options = [
        "train_dataloader.dataset.indices=8",  # 8 images, 2 ranks, batch 2: 2 iterations per rank
        "val_dataloader.dataset.indices=2",
        "train_cfg.max_epochs=1",
        "log_level=DEBUG",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "cxrdet.cli", "train", str(CONFIG), "--launcher", "pytorch", "--data-root",
               str(tmp_path / "data"), "-o", str(work), "--cfg-options", *options]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=500, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    logs = {int(m.group(1)): p for p in (work / "all").glob("*/*.log") if (m := re.search(r"rank(\d+)\.log$", p.name))}
    assert sorted(logs) == [0, 1]
    for rank, log in logs.items():
        text = log.read_text()
        assert "Distributed training: True" in text and "Distributed launcher: pytorch" in text
        assert re.search(r"Epoch\(train\) \[1\]\[2/2\]", text), f"rank {rank} did not run both iterations"
        assert "MMDistributedDataParallel" in text or "model_wrapper_cfg" in text
    assert sorted(p.name for p in (work / "all").glob("epoch_*.pth")) == ["epoch_1.pth", "epoch_1_weights.pth"]
