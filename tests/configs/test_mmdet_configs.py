"""Every MMDetection config in ``configs/mmdet/`` parses, names no URL, and builds (model and data sets) offline.

The model is built with mmdet's MODELS in the config's scope and its weights initialised (where a
``Pretrained`` init_cfg or DetectoRS' ``rfp_backbone.pretrained`` would download) with sockets blocked; the
data sets are built on the session's converted example and one item of each goes through its pipeline.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

CONFIG_DIR = Path(__file__).parents[2] / "configs" / "mmdet"
CONFIGS = sorted(CONFIG_DIR.glob("*.py"))
SPLITS = ("train_dataloader", "val_dataloader", "test_dataloader")


def _strings(node: Any, path: str = "cfg"):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}")
    elif isinstance(node, (list, tuple)):
        for k, value in enumerate(node):
            yield from _strings(value, f"{path}.{k}")
    elif isinstance(node, str):
        yield path, node


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _load(path: Path):
    from mmengine.config import Config

    return Config.fromfile(str(path))


def test_the_shipped_configs_are_there():
    names = {p.name for p in CONFIGS}
    assert {
        "faster-rcnn_r50_fpn_1024-e12_vindr.py",
        "retinanet_r18_fpn_160-e12_example.py",
    } <= names
    assert any(n.startswith("cascade-rcnn_r50-rfp_1024") for n in names)
    assert any(n.startswith("detectors_cascade-rcnn_r50_1024") for n in names)
    assert any(n.startswith("detr_r50_") for n in names)
    assert any(n.startswith("dino-4scale_r50_") for n in names)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_parses_offline_and_names_no_url(path, no_network):
    cfg = _load(path)
    assert cfg.engine == "mmdet"
    assert cfg.default_scope == "mmdet"
    urls = [f"{key} = {value!r}" for key, value in _strings(cfg.to_dict()) if "://" in value or "http" in value]
    assert not urls, f"{path.name} names URLs: {urls}"
    hook = cfg.default_hooks.checkpoint
    assert (hook.save_best, hook.rule) == ("vindr/mAP", "greater")
    assert cfg.val_evaluator.type == "cxrdet.VinDrMetric"
    for split in SPLITS:
        dataset = cfg[split].dataset
        assert dataset.type == "cxrdet.VinDrCocoDataset"
        assert dataset.get("filter_cfg", {}).get("filter_empty_gt", False) is False
        assert dataset.ann_file.startswith("coco/fold0_")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds_model_and_datasets_offline(path, converted_example, no_network):
    import torch
    from mmdet.registry import DATASETS, MODELS
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope

    cfg = _load(path)
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
        model.init_weights()  # where a Pretrained init_cfg would download
        assert sum(p.numel() for p in model.parameters()) > 1000
        channels = model.data_preprocessor.mean.numel()
        for split in SPLITS:
            dataset = DATASETS.build(dict(cfg[split].dataset, data_root=str(converted_example) + "/"))
            assert len(dataset) > 0
            assert dataset.metainfo["classes"][0] == "Aortic enlargement"
            item = dataset[0]
            image = item["inputs"]
            assert isinstance(image, torch.Tensor) and image.shape[0] == channels
            assert "original_shape" in item["data_samples"].metainfo
