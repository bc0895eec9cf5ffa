"""Resuming an mmengine run on torch >= 2.6 works for cxrdet's own checkpoints, and only for those."""

from __future__ import annotations

import pickle

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from cxrdet.engines.checkpoint import trusted_checkpoints


class TinyRegressor(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, y, mode="tensor"):
        out = self.linear(torch.stack(x) if isinstance(x, list) else x)
        if mode == "loss":
            target = torch.stack(y) if isinstance(y, list) else y
            return {"loss": ((out - target) ** 2).mean()}
        return out


class Points(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return {"x": torch.tensor([float(i), 1.0]), "y": torch.tensor([2.0 * i])}


def make_runner(work_dir, epochs, resume=False, load_from=None):
    return Runner(
        model=TinyRegressor(),
        work_dir=str(work_dir),
        experiment_name=f"e{epochs}{resume}",
        train_dataloader=dict(
            dataset=Points(),
            sampler=dict(type="DefaultSampler", shuffle=False),
            batch_size=4,
            collate_fn=dict(type="default_collate"),
        ),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.001)),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1), logger=None),
        resume=resume,
        load_from=load_from,
        log_level="ERROR",
    )


def test_resume_own_checkpoint_and_only_inside_the_context(tmp_path):
    make_runner(tmp_path / "run", epochs=2).train()
    saved = torch.load(tmp_path / "run" / "epoch_2.pth", weights_only=False)
    with pytest.raises(pickle.UnpicklingError):  # the problem: torch's safe default rejects it
        make_runner(tmp_path / "run", epochs=3, resume=True).train()
    with trusted_checkpoints([tmp_path / "run"]):
        runner = make_runner(tmp_path / "run", epochs=3, resume=True)
        runner.train()
    assert runner.epoch == 3 and runner.iter == 6  # resumed at epoch 2 (4 iters) and ran one more epoch
    resumed = torch.load(tmp_path / "run" / "epoch_3.pth", weights_only=False)
    assert resumed["meta"]["epoch"] == 3
    assert not torch.equal(resumed["state_dict"]["linear.weight"], saved["state_dict"]["linear.weight"])


def test_untrusted_files_keep_the_safe_default(tmp_path):
    make_runner(tmp_path / "run", epochs=1).train()
    outside = tmp_path / "elsewhere"
    with trusted_checkpoints([outside]), pytest.raises(pickle.UnpicklingError):
        make_runner(tmp_path / "run", epochs=2, resume=True).train()
    # a plain weights file from anywhere loads with the safe default
    weights = tmp_path / "weights.pth"
    torch.save({"state_dict": TinyRegressor().state_dict()}, weights)
    with trusted_checkpoints([outside]):
        make_runner(tmp_path / "other", epochs=1, load_from=str(weights)).train()
