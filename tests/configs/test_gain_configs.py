"""Every GAIN config in ``configs/gain/`` builds offline through the engine: its model (backbone, the loss weights,
the parameter counts the config comments state) and its data sets on the gastric example, whose first training
item goes through the pipeline and one loss step (the attention's double backward included; the ResNet-50's at
96 px)."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIG_DIR = Path(__file__).parents[2] / "configs" / "gain"
CONFIGS = sorted(CONFIG_DIR.glob("*.py"))
EXPECTED = {  # name: (backbone, parameters, input size)
    "gain_r50_224-e80_gastric": ("TimmBackbone", 23_508_032 + 2048 * 2 + 2, 224),
    "gain_example": ("VGG", 6_210, 64),
}
SMALL = 96


@pytest.fixture(scope="module")
def gastric(tmp_path_factory) -> Path:
    from cxrdet.example.gastric import make_gastric_example

    out = tmp_path_factory.mktemp("gastric") / "g"
    make_gastric_example(out, n=10, size=80)
    return out


def test_every_config_is_listed():
    assert sorted(p.stem for p in CONFIGS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds_model_and_data_and_takes_a_loss_step(path, gastric):
    import torch
    import torch.nn.functional as F
    from mmengine.dataset import pseudo_collate

    from cxrdet.config import merge
    from cxrdet.engines.base import engine_of_config
    from cxrdet.engines.runner.task_data import set_task_split
    from cxrdet.engines.runner.task_model import build_task_model
    from cxrdet.engines.runner.task_predict import dataset_of

    backbone, parameters, size = EXPECTED[path.stem]
    engine = engine_of_config(path, merge({"log_level": "WARNING"}, {"data_root": str(gastric)}))
    cfg = engine.runner_cfg
    assert engine.name == "mmengine" and cfg.default_hooks.checkpoint.save_best == "cls/accuracy"
    model = build_task_model(cfg)
    assert type(model).__name__ == "GAINClassifier" and type(model.backbone).__name__ == backbone
    assert (model.cls_weight, model.mask_weight, model.mining_weight) == (0.9, 0.1, 0.0)
    assert sum(p.numel() for p in model.parameters()) == parameters
    set_task_split(cfg, "all", gastric)
    for loader in ("train_dataloader", "val_dataloader"):
        item = dataset_of(cfg, loader)[0]
        assert tuple(item["inputs"].shape) == (3, size, size)
        assert tuple(item["data_samples"].gt_mask.shape) == (size, size)
    dataset = dataset_of(cfg, "train_dataloader")
    egc = next(i for i in range(len(dataset)) if dataset.get_data_info(i)["gt_label"] == 1)
    data = model.data_preprocessor(pseudo_collate([dataset[egc]]), True)
    if size > SMALL:  # the full model's step at a small size (ResNet-50's double backward at 224 px: ~10 s on CPU)
        data["inputs"] = F.interpolate(data["inputs"], size=(SMALL, SMALL), mode="bilinear", align_corners=False)
        for sample in data["data_samples"]:
            mask = sample.gt_mask[None, None].float()
            sample.gt_mask = F.interpolate(mask, size=(SMALL, SMALL), mode="nearest")[0, 0].long()
        size = SMALL
    model.train()
    losses = model(**data, mode="loss")
    assert {"loss_cls", "loss_mask"} <= set(losses) and float(losses["loss_mask"]) > 0
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    first = next(p for p in model.backbone.parameters() if p.dim() == 4)
    assert first.grad is not None and float(first.grad.abs().sum()) > 0
    model.eval()
    with torch.no_grad():
        (sample,) = model(**data, mode="predict")
    assert tuple(sample.pred_attention.shape) == (size, size)
