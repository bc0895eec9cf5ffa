"""The custom-model engine's parts that need no trained model: geometry of explain maps, prediction rows, image
files, the split keys set on a loaded config, and the training-curves hook and plot.

References: hand-computed crop offsets (mmcv's rule ``round((size - crop) / 2)``) and mmcv's own
``CenterCrop`` run on a coordinate image; hand-written rows; pandas reading back the files written.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cxrdet.engines.runner.explain import Geometry
from cxrdet.engines.runner.task_model import column_name, prediction_rows


def test_crop_geometry_puts_the_map_back_where_mmcv_cut_it():
    from mmcv.transforms import CenterCrop

    # an image whose pixel value is its own column index: what CenterCrop keeps tells where the crop lies
    h, w = 9, 12
    coords = np.tile(np.arange(w, dtype=np.float32), (h, 1))
    kept = CenterCrop(crop_size=(6, 5))({"img": coords.copy()})["img"]  # crop_size is (w, h)
    x1 = int(kept[0, 0])
    geometry = Geometry((h, w), [("crop", (h, w), (5, 6))])
    back = geometry.to_file(np.ones((5, 6), np.float32))
    cols = np.flatnonzero(back.max(axis=0) > 0)
    rows = np.flatnonzero(back.max(axis=1) > 0)
    assert (cols[0], cols[-1]) == (x1, x1 + 5)
    assert (rows[0], rows[-1]) == (round((9 - 5) / 2), round((9 - 5) / 2) + 4)
    assert back.sum() == pytest.approx(30.0)  # every kept pixel once, nothing outside


def test_resize_geometry_returns_the_file_size():
    geometry = Geometry((40, 30), [("resize", (40, 30), (20, 15))])
    heat = np.zeros((20, 15), np.float32)
    heat[:10] = 1.0  # upper half
    back = geometry.to_file(heat)
    assert back.shape == (40, 30)
    assert back[:18].min() > 0.99 and back[22:].max() < 0.01


def _sample(**fields):
    from mmengine.structures import BaseDataElement

    sample = BaseDataElement(metainfo={"img_id": "img7"})
    sample.set_data(fields)
    return sample


def test_prediction_rows_of_a_classifier_and_of_bone_age():
    cls = _sample(pred_score=torch.tensor([0.2, 0.8]), pred_label=torch.tensor(1), gt_label=torch.tensor(0))
    (row,) = prediction_rows([cls], ("normal", "abnormal"))
    expected = {"image_id": "img7", "p_normal": pytest.approx(0.2), "p_abnormal": pytest.approx(0.8)}
    assert row == {**expected, "label": "abnormal", "gt_label": "normal"}
    age = _sample(pred_age=torch.tensor(30.0), pred_male=torch.tensor(0.25), gt_age=torch.tensor(27.0))
    (row,) = prediction_rows([age], None)
    assert row["boneage_months"] == 30.0 and row["boneage_years"] == 2.5 and row["p_male"] == 0.25
    assert row["gt_boneage_months"] == 27.0 and math.isnan(row["gt_male"])
    assert column_name("Nodule/Mass") == "p_nodule_mass"


def test_image_files_are_found_recursively_and_ids_must_be_unique(tmp_path):
    from cxrdet.errors import InputError
    from cxrdet.io.sources import find_images

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for p in (tmp_path / "a" / "x.png", tmp_path / "b" / "y.JPG", tmp_path / "b" / "z.dcm", tmp_path / "note.txt"):
        p.write_bytes(b"")
    found = find_images(tmp_path)
    assert [(f.image_id, f.kind) for f in found] == [("x", "image"), ("y", "image"), ("z", "dicom")]
    (tmp_path / "b" / "x.jpeg").write_bytes(b"")
    with pytest.raises(InputError, match="also used by"):
        find_images(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        find_images(tmp_path / "missing")


def test_every_loader_reads_its_subset_of_the_split(tmp_path):
    from mmengine.config import Config

    from cxrdet.engines.runner.task_data import set_task_split
    from cxrdet.errors import ConfigError

    wrapped = {"type": "RepeatDataset", "times": 2, "dataset": {"type": "ClassFolderDataset"}}
    cfg = Config(
        {
            "train_dataloader": {"dataset": wrapped},
            "val_dataloader": {"dataset": {"type": "ClassFolderDataset"}},
            "test_dataloader": {"dataset": {"type": "ClassFolderDataset"}},
        }
    )
    set_task_split(cfg, "fold2", tmp_path)
    assert cfg.train_dataloader.dataset.dataset.subset == "train"
    assert cfg.val_dataloader.dataset.subset == cfg.test_dataloader.dataset.subset == "val"
    assert {cfg.train_dataloader.dataset.dataset.split, cfg.val_dataloader.dataset.split} == {"fold2"}
    assert cfg.val_dataloader.dataset.data_root == str(tmp_path.resolve())
    with pytest.raises(ConfigError, match="expected foldK or all"):
        set_task_split(cfg, "val", tmp_path)


def test_curves_hook_averages_each_epoch_and_draws_train_and_val(tmp_path):
    import pandas as pd

    from cxrdet.engines.runner.curves import TrainingCurvesHook

    hook = TrainingCurvesHook(min_seconds=0)  # draw after every validation
    runner = SimpleNamespace(
        work_dir=str(tmp_path), epoch=0, iter=0, experiment_name="t", train_loop=type("EpochBasedTrainLoop", (), {})()
    )
    for epoch, (losses, val_acc) in enumerate([([1.0, 3.0], 0.5), ([0.5, 0.5], 0.75)], start=1):
        for loss in losses:
            hook.after_train_iter(runner, 0, outputs={"loss": torch.tensor(loss), "accuracy": torch.tensor(epoch / 4)})
        runner.epoch = epoch - 1  # as mmengine's loop: the epoch is counted after after_train_epoch
        hook.after_train_epoch(runner)
        runner.epoch = epoch  # ... and before validation
        hook.after_val_epoch(runner, {"cls/accuracy": val_acc})
    assert hook.history["train/loss"] == [(1, 2.0), (2, 0.5)]
    assert hook.history["val/cls/accuracy"] == [(1, 0.5), (2, 0.75)]
    frame = pd.read_csv(tmp_path / "training_curves.csv")
    assert len(frame) == 6 and set(frame["key"]) == {"train/loss", "train/accuracy", "val/cls/accuracy"}
    png = Path(tmp_path / "training_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # a resumed run (after epoch 1) continues the curves up to where it restarts
    resumed = TrainingCurvesHook()
    runner.epoch = 1
    resumed.before_train(runner)
    assert resumed.history["train/loss"] == [(1, 2.0)] and resumed.history["val/cls/accuracy"] == [(1, 0.5)]


def test_curves_hook_draws_fast_epochs_once_at_the_end_but_keeps_the_csv_current(tmp_path):
    from cxrdet.engines.runner.curves import TrainingCurvesHook

    hook = TrainingCurvesHook()  # min_seconds=30: sub-second epochs are not redrawn each time
    runner = SimpleNamespace(
        work_dir=str(tmp_path), epoch=0, iter=0, experiment_name="t", train_loop=type("EpochBasedTrainLoop", (), {})()
    )
    hook.after_train_iter(runner, 0, outputs={"loss": torch.tensor(1.0)})
    hook.after_train_epoch(runner)
    runner.epoch = 1
    hook.after_val_epoch(runner, {"cls/accuracy": 0.5})
    assert (tmp_path / "training_curves.csv").is_file() and not (tmp_path / "training_curves.png").exists()
    hook.after_train(runner)
    assert (tmp_path / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
