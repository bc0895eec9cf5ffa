"""Every segmentation config in ``configs/segmentation/`` builds offline through the engine: its model (the four
ablation switches, the parameter counts the config comments state) and its training and validation data sets on the
gastric example, whose first item goes through the pipeline to a packed image and mask of the config's size."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIG_DIR = Path(__file__).parents[2] / "configs" / "segmentation"
CONFIGS = sorted(CONFIG_DIR.glob("*.py"))
EXPECTED = {  # name: (cbam, aspp, parameters, input size)
    "unet_256-e100_gastric": (False, False, 31_037_698, 256),
    "unet-cbam_256-e100_gastric": (True, False, 31_083_154, 256),
    "unet-aspp_256-e100_gastric": (False, True, 39_954_946, 256),
    "ca-unet_256-e100_gastric": (True, True, 40_000_402, 256),
    "ca-unet_example": (True, True, 157_550, 64),
}


@pytest.fixture(scope="module")
def gastric(tmp_path_factory) -> Path:
    from cxrdet.example.gastric import make_gastric_example

    out = tmp_path_factory.mktemp("gastric") / "g"
    make_gastric_example(out, n=10, size=80)
    return out


def test_every_config_is_listed():
    assert sorted(p.stem for p in CONFIGS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds_model_and_data(path, gastric):
    from cxrdet.config import merge
    from cxrdet.engines.base import engine_of_config
    from cxrdet.engines.runner.task_data import set_task_split
    from cxrdet.engines.runner.task_model import build_task_model
    from cxrdet.engines.runner.task_predict import dataset_of

    cbam, aspp, parameters, size = EXPECTED[path.stem]
    engine = engine_of_config(path, merge({"log_level": "WARNING"}, {"data_root": str(gastric)}))
    cfg = engine.runner_cfg
    assert engine.name == "mmengine" and cfg.default_hooks.checkpoint.save_best == "seg/mIoU"
    model = build_task_model(cfg)
    assert type(model).__name__ == "UNetSegmenter"
    assert (model.net.attention is not None, model.net.aspp is not None) == (cbam, aspp)
    assert sum(p.numel() for p in model.parameters()) == parameters
    set_task_split(cfg, "all", gastric)
    for loader in ("train_dataloader", "val_dataloader"):
        dataset = dataset_of(cfg, loader)
        item = dataset[0]
        assert tuple(item["inputs"].shape) == (3, size, size)
        assert tuple(item["data_samples"].gt_mask.shape) == (size, size)
