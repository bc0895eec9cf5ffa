"""``cxrdet train --resume``: a run killed with SIGKILL in the middle continues from its last checkpoint.

The tiny config has no random augmentation (mmengine re-seeds on resume instead of restoring the random state,
so only the history up to the checkpoint can be compared exactly). Three runs of 3 epochs x 2 iterations: an
uninterrupted one, one killed once ``epoch_2.pth`` exists, and that one resumed (loaded through
``trusted_checkpoints``: mmengine's full checkpoints are refused by torch's safe default).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CONFIG = Path(__file__).parent / "mmdet_tiny_retinanet.py"
pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out
OPTIONS = [
    "train_dataloader.dataset.indices=4",  # 2 iterations per epoch
    "train_dataloader.sampler.shuffle=False",
    "train_cfg.max_epochs=3",
    "train_cfg.val_interval=100",  # no validation: the history is the training losses
]


def _argv(data: Path, work: Path) -> list[str]:
    return ["train", str(CONFIG), "--data-root", str(data), "-o", str(work), "--cfg-options", *OPTIONS]


def _history(work: Path) -> dict[str, list]:
    """The training history a run's last checkpoint carries (its MessageHub), as plain lists."""
    from mmengine.runner.checkpoint import _load_checkpoint

    from cxrdet.engines.checkpoint import trusted_checkpoints

    last = Path((work / "all" / "last_checkpoint").read_text().strip())
    with trusted_checkpoints([work]):
        ckpt = _load_checkpoint(str(last), map_location="cpu")
    scalars = ckpt["message_hub"]["log_scalars"]
    return {
        "epoch": ckpt["meta"]["epoch"],
        "iter": ckpt["meta"]["iter"],
        "loss": list(scalars["train/loss"].data[0]),
        "lr": list(scalars["train/lr"].data[0]),
    }


def test_a_killed_run_resumes_to_the_same_end_and_history(converted_example, tmp_path):
    import shutil

    from cxrdet.cli import main

    data = tmp_path / "data"
    shutil.copytree(converted_example, data)
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    assert main(_argv(data, whole)) == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cxrdet.cli", *_argv(data, broken)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = broken / "all" / "last_checkpoint"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and process.poll() is None:
        if marker.is_file() and marker.read_text().strip().endswith("epoch_2.pth"):
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert not (broken / "all" / "epoch_3.pth").exists()  # killed in the middle of epoch 3
    with pytest.raises(Exception, match="Weights only load failed"):  # why trusted_checkpoints is needed
        import torch

        torch.load(broken / "all" / "epoch_2.pth", weights_only=True)
    assert main([*_argv(data, broken), "--resume"]) == 0
    a, b = _history(whole), _history(broken)
    assert (b["epoch"], b["iter"]) == (a["epoch"], a["iter"]) == (3, 6)
    assert len(b["loss"]) == len(a["loss"]) == 6
    assert b["loss"][:4] == a["loss"][:4] and b["lr"][:4] == a["lr"][:4]  # identical up to the checkpoint
