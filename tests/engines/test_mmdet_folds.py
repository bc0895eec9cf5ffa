"""K-fold training through the mmdet engine (``cxrdet train --all-folds``: OOF files, best checkpoint by VinDr
mAP, weights-only checkpoints) and mmdet's own tool scripts on the same config, run as subprocesses from a
folder holding the config's ``data_root``: train.py, test.py (on a ``*_weights.pth``), get_flops.py,
browse_dataset.py and confusion_matrix.py.

The shipped CPU example config (``configs/mmdet/retinanet_r18_fpn_160-e12_example.py``) shrunk by
``--cfg-options`` (64 px, two images, one epoch, the 16-bit data preprocessor of the base for the 16-bit test
data): this file checks the plumbing; learning is checked in ``test_mmdet_learn.py``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

CONFIG = Path(__file__).parents[2] / "configs" / "mmdet" / "retinanet_r18_fpn_160-e12_example.py"
DATA_ROOT = "runs/demo/data/train"  # the config's data_root, relative to the folder mmdet's tools run in
SMALL = [
    "model.data_preprocessor.mean=[32767.5]",
    "model.data_preprocessor.std=[16383.75]",
    "train_dataloader.batch_size=2",
    "train_dataloader.dataset.pipeline.2.scale=(64,64)",
    "val_dataloader.dataset.pipeline.1.scale=(64,64)",
    "test_dataloader.dataset.pipeline.1.scale=(64,64)",
]
TINY = [*SMALL, "train_dataloader.dataset.indices=2", "val_dataloader.dataset.indices=2", "train_cfg.max_epochs=1"]
pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out
MMDET_TOOLS = Path(next(iter(importlib.util.find_spec("mmdet").submodule_search_locations))) / ".mim" / "tools"


@pytest.fixture(scope="module")
def folds(converted_example, tmp_path_factory) -> dict:
    from cxrdet.cli import main

    tmp = tmp_path_factory.mktemp("mmdet_folds")
    shutil.copytree(converted_example, tmp / DATA_ROOT)
    work = tmp / "work"
    assert main(["train", str(CONFIG), "--data-root", str(tmp / DATA_ROOT), "-o", str(work), "--all-folds",
                 "--cfg-options", *TINY]) == 0  # fmt: skip
    return {"root": tmp, "data": tmp / DATA_ROOT, "work": work}


def test_every_fold_writes_its_oof_file_and_all_folds_are_stacked(folds):
    from cxrdet.io.predictions import read_table

    assignment = pd.read_csv(folds["data"] / "folds.csv", dtype={"image_id": str})
    meta = pd.read_csv(folds["data"] / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    for k in range(3):
        table = read_table(folds["work"] / f"oof_fold{k}.csv")
        expected = set(assignment.loc[assignment["fold"] == k, "image_id"])
        assert set(table.images.index) == expected
        for image_id in expected:  # every image listed with its ORIGINAL size
            assert tuple(table.images.loc[image_id, ["height", "width"]]) == tuple(
                meta.loc[image_id, ["original_height", "original_width"]]
            )
        assert (folds["work"] / f"oof_fold{k}.classes.json").is_file()
    stacked = read_table(folds["work"] / "oof.csv")
    assert sorted(stacked.images.index) == sorted(assignment["image_id"])


def test_each_fold_keeps_its_best_checkpoint_by_vindr_map_and_a_weights_only_twin(folds):
    import torch

    for k in range(3):
        run = folds["work"] / f"fold{k}"
        assert (run / "best_vindr_mAP_epoch_1.pth").is_file()
        with pytest.raises(Exception, match="Weights only load failed"):
            torch.load(run / "epoch_1.pth", weights_only=True)  # the full mmengine checkpoint
        weights = torch.load(run / "epoch_1_weights.pth", weights_only=True)
        record = weights["meta"]["cxrdet"]
        assert record["split"] == f"fold{k}" and record["png_size"] == 256 and record["bit_depth"] == 16
        assert record["dataset"]["no_finding"] == 14 and weights["meta"]["epoch"] == 1
        assert len(weights["meta"]["dataset_meta"]["classes"]) == 14 and weights["state_dict"]
        config = (run / CONFIG.name).read_text()  # the Runner's resolved config of the fold
        assert f"coco/fold{k}_train.json" in config and f"coco/fold{k}_val.json" in config


def _tool(folds, *argv: str, timeout: int = 400) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run(
        [sys.executable, *argv], cwd=folds["root"], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_mmdet_train_and_test_scripts_run_the_config_unchanged(folds):
    from cxrdet.engines.runner.config import fold_cfg_options

    work = folds["root"] / "mmdet_work"
    pick = fold_cfg_options("fold1", DATA_ROOT + "/").split()  # the README's line for mmdet's own train.py
    _tool(folds, str(MMDET_TOOLS / "train.py"), str(CONFIG), "--work-dir", str(work), "--cfg-options", *pick, *TINY)
    assert (work / "epoch_1.pth").is_file()
    assert "coco/fold1_val.json" in (work / CONFIG.name).read_text()
    weights = folds["work"] / "fold0" / "epoch_1_weights.pth"  # written by cxrdet train, loaded by mmdet as is
    out = folds["root"] / "results.pkl"
    result = _tool(folds, str(MMDET_TOOLS / "test.py"), str(CONFIG), str(weights), "--work-dir",
                   str(folds["root"] / "mmdet_test"), "--out", str(out), "--cfg-options", *SMALL)  # fmt: skip
    assert "vindr/mAP" in result.stdout + result.stderr and out.is_file()
    matrix = folds["root"] / "matrix"
    _tool(folds, str(MMDET_TOOLS / "analysis_tools" / "confusion_matrix.py"), str(CONFIG), str(out), str(matrix),
          "--cfg-options", *SMALL)  # fmt: skip
    assert (matrix / "confusion_matrix.png").is_file()


def test_mmdet_analysis_scripts_run_the_config_unchanged(folds):
    flops = _tool(folds, str(MMDET_TOOLS / "analysis_tools" / "get_flops.py"), str(CONFIG), "--num-images", "1")
    text = flops.stdout + flops.stderr
    assert "Input shape: (160, 160)" in text and "Flops:" in text and "Params:" in text
    shown = folds["root"] / "browse"
    # browse_dataset.py draws 3-channel images (img[..., [2, 1, 0]]): the 1-channel example is browsed as 3 copies
    _tool(folds, str(MMDET_TOOLS / "analysis_tools" / "browse_dataset.py"), str(CONFIG), "--output-dir", str(shown),
          "--not-show", "--cfg-options", "train_dataloader.dataset.indices=2",
          "train_dataloader.dataset.pipeline.0.channels=3", *SMALL[3:4])  # fmt: skip
    assert len(list(shown.glob("*.png"))) == 2


def test_the_cxrdet_test_shim_scores_a_fold(folds, capsys):
    import importlib.util

    path = Path(__file__).parents[2] / "tools" / "test.py"
    spec = importlib.util.spec_from_file_location("cxrdet_tools_test", path)
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    best = folds["work"] / "fold2" / "best_vindr_mAP_epoch_1.pth"
    argv = [str(CONFIG), str(best), "--data-root", str(folds["data"]), "--work-dir", str(folds["work"])]
    assert shim.main([*argv, "--cfg-options", *SMALL]) == 0
    printed = capsys.readouterr().out
    assert (
        "mAP@0.4: " in printed
        and f"predictions: {folds['work'] / 'fold2' / 'test_best_vindr_mAP_epoch_1.csv'}" in printed
    )
