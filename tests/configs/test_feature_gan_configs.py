"""Every feature-GAN config in ``configs/feature_gan/`` builds offline through the engine: its model (the parameter
counts the config headers state), its training, validation and held-out test data sets on the imbalanced example
(the first item packed at the config's size and channels), and step 2's optimiser dictionary with the write-up's
learning rates (the example's classifier raised)."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIG_DIR = Path(__file__).parents[2] / "configs" / "feature_gan"
CONFIGS = sorted(CONFIG_DIR.glob("*.py"))
EXPECTED = {  # name: (model type, parameters, input channels, classifier lr)
    "extractor_160-e50_chexpert": ("ImageClassifier", 64_831_948, 3, None),
    "feature-gan_160_chexpert": ("FeatureGAN", 322_548_325, 3, 1e-7),
    "extractor_example": ("ImageClassifier", 254_416, 1, None),
    "feature-gan_example": ("FeatureGAN", 1_274_893, 1, 1e-4),
}


@pytest.fixture(scope="module")
def chest(tmp_path_factory) -> Path:
    from cxrdet.example.imbalanced import make_imbalanced_example

    out = tmp_path_factory.mktemp("imbalanced") / "c"
    make_imbalanced_example(out, n_per_class_major=10, ratio=5, n_test_per_class=2, size=64)
    return out


def test_every_config_is_listed():
    assert sorted(p.stem for p in CONFIGS) == sorted(EXPECTED)


def _header_count(path: Path) -> int | None:
    import re

    text = " ".join(line for line in path.read_text().splitlines() if line.startswith("#"))
    match = re.search(r"([\d,]{5,}) parameters", text) or re.search(r"Parameters: ([\d,]{5,})", text)
    return int(match.group(1).replace(",", "")) if match else None


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds_model_data_and_optimisers(path, chest):
    import torch

    from cxrdet.config import merge
    from cxrdet.engines.base import engine_of_config
    from cxrdet.engines.runner.task_data import set_task_split
    from cxrdet.engines.runner.task_model import build_task_model
    from cxrdet.engines.runner.task_predict import dataset_of

    kind, parameters, channels, classifier_lr = EXPECTED[path.stem]
    engine = engine_of_config(path, merge({"log_level": "WARNING"}, {"data_root": str(chest)}))
    cfg = engine.runner_cfg
    assert engine.name == "mmengine" and cfg.default_hooks.checkpoint.save_best == "cls/balanced_accuracy"
    with torch.device("meta"):
        model = build_task_model(cfg)
    assert type(model).__name__ == kind
    assert sum(p.numel() for p in model.parameters()) == parameters == _header_count(path)
    set_task_split(cfg, "all", chest)
    sizes = {}
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        dataset = dataset_of(cfg, loader)
        assert tuple(dataset[0]["inputs"].shape) == (channels, 160, 160)
        sizes[loader] = len(dataset)
    assert sizes["test_dataloader"] == 12  # the held-out test.csv, whole
    assert sizes["train_dataloader"] + sizes["val_dataloader"] == 3 * 10 + 3 * 2
    if classifier_lr is not None:
        from cxrdet.models.feature_gan import FeatureGanOptimWrapperConstructor

        options = {k: v for k, v in cfg.optim_wrapper.items() if k != "constructor"}
        small = build_task_model(cfg) if "example" in path.stem else None
        if small is not None:
            optim = FeatureGanOptimWrapperConstructor(options)(small)
            lrs = {k: optim[k].get_lr()["lr"][0] for k in optim.keys()}  # noqa: SIM118 - OptimWrapperDict
            assert lrs == {"generator": 1e-3, "discriminator": 1e-4, "classifier": classifier_lr}
        else:
            lrs = {k: v["optimizer"]["lr"] for k, v in options.items()}
            assert lrs == {"generator": 1e-3, "discriminator": 1e-4, "classifier": classifier_lr}
        assert cfg.custom_hooks and cfg.custom_hooks[0]["type"] == "FeatureStatsHook"
