"""The fracture CNNs against the seed (``fracture_cnn.txt``): AlexNet's layer table exactly, VGG/ResNet counts.

The AlexNet reference is the seed's torchsummary table transcribed by hand (every leaf layer's output shape and
parameter count for a 1 x 400 x 400 input, 147,395,970 in total); the model is built from the shipped config and
run on the meta device (shapes and parameters without allocating the 590 MB of weights). The VGG and ResNet
configs' headers state the measured count next to the seed's; both are checked against the built model.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from torch import nn

from cxrdet.models.classifiers import VGG, AlexNet, ClsHead, ImageClassifier, ResNet
from cxrdet.registry import MODELS

pytestmark = pytest.mark.usefixtures("cxrdet_scope")  # builds in cxrdet's scope (tests/models/conftest.py)

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "fracture"

# The seed's "final model" table: (layer type, output shape without the batch, parameters).
SEED_ALEXNET = [
    ("Conv2d", (96, 98, 98), 11_712),
    ("ReLU", (96, 98, 98), 0),
    ("MaxPool2d", (96, 48, 48), 0),
    ("BatchNorm2d", (96, 48, 48), 192),
    ("Conv2d", (256, 48, 48), 614_656),
    ("ReLU", (256, 48, 48), 0),
    ("MaxPool2d", (256, 23, 23), 0),
    ("BatchNorm2d", (256, 23, 23), 512),
    ("Conv2d", (384, 23, 23), 885_120),
    ("ReLU", (384, 23, 23), 0),
    ("Conv2d", (384, 23, 23), 1_327_488),
    ("ReLU", (384, 23, 23), 0),
    ("Conv2d", (256, 23, 23), 884_992),
    ("ReLU", (256, 23, 23), 0),
    ("MaxPool2d", (256, 11, 11), 0),
    ("Flatten", (30976,), 0),
    ("Dropout", (30976,), 0),
    ("Linear", (4096,), 126_881_792),
    ("ReLU", (4096,), 0),
    ("Dropout", (4096,), 0),
    ("Linear", (4096,), 16_781_312),
    ("ReLU", (4096,), 0),
    ("Linear", (2,), 8_194),
]
SEED_ALEXNET_TOTAL = 147_395_970

ALEXNET_CONFIGS = {  # config -> (dropout, L2 lambda) of the write-up's experiments
    "alexnet-d05_400-e100_fracture.py": (0.5, 0.0),
    "alexnet-d08_400-e100_fracture.py": (0.8, 0.0),
    "alexnet-d08-l2-1e-4_400-e100_fracture.py": (0.8, 1e-4),
    "alexnet-d08-l2-1e-3_400-e100_fracture.py": (0.8, 1e-3),
}
COUNTED_CONFIGS = {  # config -> (the seed's parameter count, conv layers named by the write-up, epochs)
    "vgg8_400-e100_fracture.py": (395_634, 8, 100),
    "vgg10_400-e100_fracture.py": (7_638_210, 10, 100),
    "resnet25_400-e20_fracture.py": (3_152_370, 25, 20),
    "resnet15-l2-1e-2_400-e50_fracture.py": (213_234, 15, 50),
}
TOLERANCE = 0.01  # the VGG/ResNet designs come within 1% of the seed's counts (the configs state the exact figure)
HEADER = re.compile(r"^# Parameters \(1 x 400 x 400, 2 classes\): ([\d,]+) measured; the seed's: ([\d,]+)", re.M)


def _leaf_table(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...], int]]:
    """(type, output shape, own parameters) of every leaf module, in the order they run (torchsummary's rows)."""
    rows: list[tuple[str, tuple[int, ...], int]] = []
    handles = []
    for module in model.modules():
        if next(module.children(), None) is None:

            def hook(mod: nn.Module, _inputs: object, output: torch.Tensor) -> None:
                params = sum(p.numel() for p in mod.parameters(recurse=False))
                rows.append((type(mod).__name__, tuple(output.shape[1:]), params))

            handles.append(module.register_forward_hook(hook))
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return rows


def _build(config: str, device: str = "cpu") -> tuple[ImageClassifier, Config]:
    cfg = Config.fromfile(CONFIGS / config)
    with torch.device(device):
        model = MODELS.build(cfg.model)
    return model, cfg


@pytest.fixture(scope="module")
def final_alexnet() -> ImageClassifier:
    model, _ = _build("alexnet-d08-l2-1e-3_400-e100_fracture.py", device="meta")
    return model.eval()


def test_final_alexnet_reproduces_the_seed_layer_table(final_alexnet: ImageClassifier) -> None:
    rows = _leaf_table(final_alexnet, torch.zeros(1, 1, 400, 400, device="meta"))
    assert len(rows) == len(SEED_ALEXNET)
    for i, (got, want) in enumerate(zip(rows, SEED_ALEXNET), start=1):
        assert got == want, f"row {i}: {got} != seed {want}"
    assert sum(p.numel() for p in final_alexnet.parameters()) == SEED_ALEXNET_TOTAL
    assert sum(p.numel() for p in final_alexnet.parameters() if p.requires_grad) == SEED_ALEXNET_TOTAL
    assert sum(r[2] for r in rows) == SEED_ALEXNET_TOTAL  # every parameter sits in a listed layer


def test_alexnet_cam_layer_is_the_last_conv_map(final_alexnet: ImageClassifier) -> None:
    seen = {}
    handle = final_alexnet.cam_layer.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    final_alexnet(torch.zeros(2, 1, 400, 400, device="meta"))
    handle.remove()
    assert tuple(seen["shape"]) == (2, 256, 23, 23)  # ReLU-14 of the seed, before MaxPool2d-15


@pytest.mark.parametrize(("config", "expected"), sorted(ALEXNET_CONFIGS.items()))
def test_alexnet_configs_set_the_write_ups_dropout_and_l2(config: str, expected: tuple[float, float]) -> None:
    dropout, l2 = expected
    cfg = Config.fromfile(CONFIGS / config)
    assert cfg.model.backbone.type == "AlexNet"
    assert cfg.model.head.hidden_dims == [4096, 4096] or tuple(cfg.model.head.hidden_dims) == (4096, 4096)
    assert cfg.model.head.dropout == dropout
    assert cfg.optim_wrapper.optimizer.weight_decay == l2
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.train_cfg.max_epochs == 100
    with torch.device("meta"):
        head = ClsHead(**{k: v for k, v in cfg.model.head.items() if k != "type"})
    assert [m.p for m in head.modules() if isinstance(m, nn.Dropout)] == [dropout, dropout]


@pytest.mark.parametrize("config", sorted(COUNTED_CONFIGS))
def test_vgg_and_resnet_counts_near_the_seed(config: str) -> None:
    seed_count, convs, epochs = COUNTED_CONFIGS[config]
    model, cfg = _build(config, device="meta")
    measured = sum(p.numel() for p in model.parameters())
    header = HEADER.search((CONFIGS / config).read_text())
    assert header, f"{config}: no '# Parameters (1 x 400 x 400, 2 classes): N measured; the seed's: M' line"
    assert int(header[1].replace(",", "")) == measured
    assert int(header[2].replace(",", "")) == seed_count
    assert abs(measured - seed_count) <= TOLERANCE * seed_count, (measured, seed_count)
    main_convs = [m for m in model.backbone.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    assert len(main_convs) == convs
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    logits = model.eval()(torch.zeros(1, 1, 400, 400, device="meta"))  # the design runs at the write-up's size
    assert logits.shape == (1, 2)


def test_resnet15_has_the_write_ups_l2() -> None:
    cfg = Config.fromfile(CONFIGS / "resnet15-l2-1e-2_400-e50_fracture.py")
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-2
    assert Config.fromfile(CONFIGS / "resnet25_400-e20_fracture.py").optim_wrapper.optimizer.weight_decay == 0.0


def test_alexnet_feature_size_formula_matches_the_network() -> None:
    for size in (96, 227, 400):
        out = AlexNet(widths=(4, 4, 4, 4, 4), flatten=False).eval()(torch.zeros(1, 1, size, size))
        assert out.shape[-1] == AlexNet.feature_size(size)
    assert AlexNet.feature_size(400) == 11


def test_vgg_and_resnet_shapes_and_cam_layers() -> None:
    vgg = VGG(stage_widths=(4, 8), convs_per_stage=(1, 2), norm=True, out="map").eval()
    assert vgg(torch.zeros(1, 1, 32, 32)).shape == (1, 8, 8, 8)
    assert vgg.feature_size(32) == 8
    assert isinstance(vgg.cam_layer, nn.ReLU)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in vgg.modules()) == 3
    res = ResNet(
        stem_channels=4, stem_kernel=3, stem_stride=1, stem_pool=False, stage_widths=(4, 8), blocks_per_stage=(1, 2)
    )
    assert res.num_convs == 7
    seen = {}
    res.cam_layer.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    assert res.eval()(torch.zeros(1, 1, 16, 16)).shape == (1, 8)
    assert tuple(seen["shape"]) == (1, 8, 8, 8)


REQUIRED = ("model", "train_dataloader", "val_dataloader", "val_evaluator", "test_dataloader", "test_evaluator")
ALL_CONFIGS = sorted(p.name for p in CONFIGS.glob("*.py"))


@pytest.mark.parametrize("config", ALL_CONFIGS)
def test_every_fracture_config_follows_the_runner_contract(config: str) -> None:
    cfg = Config.fromfile(CONFIGS / config)
    assert cfg.engine == "mmengine" and cfg.default_scope == "cxrdet" and cfg.data_root is None
    assert all(key in cfg for key in REQUIRED)
    assert cfg.train_cfg.by_epoch is True and cfg.train_cfg.val_interval == 1
    assert cfg.default_hooks.checkpoint.save_best == "cls/accuracy" and cfg.default_hooks.checkpoint.rule == "greater"
    assert cfg.randomness.seed == 0
    assert [b.type for b in cfg.visualizer.vis_backends] == ["LocalVisBackend", "TensorboardVisBackend"]
    assert cfg.model.data_preprocessor == dict(type="ImgDataPreprocessor", mean=[0.5], std=[0.25])
    train = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert train == ["LoadMedicalImage", "CenterCrop", "RandomFlip", "PackMedicalInputs"]
    assert cfg.train_dataloader.dataset.pipeline[2].direction == "horizontal"
    assert "RandomFlip" not in [t.type for t in cfg.val_dataloader.dataset.pipeline]
    assert cfg.train_dataloader.dataset.type == "ClassFolderDataset"
    assert cfg.val_dataloader.dataset.subset == "val" and cfg.train_dataloader.dataset.subset == "train"
    crop = cfg.train_dataloader.dataset.pipeline[1].crop_size
    assert crop == (64 if config == "fracture_example.py" else 400)
    with torch.device("meta"):
        model = MODELS.build(cfg.model)
    assert model.eval()(torch.zeros(2, 1, crop, crop, device="meta")).shape == (2, 2)


def test_example_config_is_tiny() -> None:
    model, cfg = _build("fracture_example.py")
    assert sum(p.numel() for p in model.parameters()) == 6_066  # as its header states
    assert cfg.train_cfg.max_epochs <= 20


def test_the_pipeline_gives_400_px_grey_inputs_from_any_image(tmp_path: Path) -> None:
    init_default_scope("cxrdet")
    cfg = Config.fromfile(CONFIGS / "alexnet-d08-l2-1e-3_400-e100_fracture.py")
    for h, w in ((300, 200), (500, 640)):
        img = np.zeros((h, w), np.uint16)
        img[h // 2, w // 2] = 65535  # the centre pixel stays inside the crop at full 16-bit scale
        path = tmp_path / f"im_{h}x{w}.png"
        cv2.imwrite(str(path), img)
        for pipeline in (cfg.train_dataloader.dataset.pipeline, cfg.test_dataloader.dataset.pipeline):
            out = Compose(pipeline)(dict(img_path=str(path), img_id=path.stem, gt_label=1))
            assert out["inputs"].shape == (1, 400, 400) and out["inputs"].dtype == torch.float32
            assert out["inputs"].max().item() == 1.0 and out["inputs"].min().item() == 0.0
            assert out["data_samples"].gt_label.item() == 1
