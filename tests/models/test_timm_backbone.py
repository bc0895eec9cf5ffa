"""TimmBackbone: grey input, local weights only (nothing downloaded), timm's 3 -> 1 channel stem adaptation.

The reference for the adaptation is timm's own rule (``timm.models._manipulate.adapt_input_conv``): for one
input channel the stem weights are summed over the pretrained RGB channels. The test computes that sum from
the saved 3-channel weights itself and forbids network access while loading.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import timm
import torch
from mmengine.config import Config

from cxrdet.errors import ConfigError, InputError
from cxrdet.models.classifiers import ClsHead, ImageClassifier, TimmBackbone
from cxrdet.registry import MODELS

pytestmark = pytest.mark.usefixtures("cxrdet_scope")  # builds in cxrdet's scope (tests/models/conftest.py)

NAME = "test_efficientnet"  # timm's tiny EfficientNet (the winners' family at test size)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_grey_input_gives_pooled_features() -> None:
    backbone = TimmBackbone(NAME, in_chans=1).eval()
    assert backbone.model.conv_stem.in_channels == 1
    out = backbone(torch.zeros(2, 1, 64, 64))
    assert out.shape == (2, backbone.num_features) == (2, 256)


def test_cam_layer_output_is_the_final_feature_map() -> None:
    backbone = TimmBackbone("resnet10t", in_chans=1).eval()
    seen = {}
    backbone.cam_layer.register_forward_hook(lambda m, i, o: seen.update(map=o))
    x = torch.randn(1, 1, 64, 64)
    backbone(x)
    assert backbone.cam_layer is backbone.model.layer4
    assert torch.equal(seen["map"], backbone.model.forward_features(x))
    effnet = TimmBackbone(NAME).eval()
    effnet.cam_layer.register_forward_hook(lambda m, i, o: seen.update(map=o))
    effnet(x)
    assert torch.equal(seen["map"], effnet.model.forward_features(x))


@pytest.mark.parametrize("remote", ["https://example.org/w.pth", "imagenet", True, "hf-hub:timm/resnet18.a1_in1k"])
def test_remote_pretrained_is_refused_with_the_local_recipe(remote, no_network) -> None:
    with pytest.raises(ConfigError, match=r"never downloaded|would download") as err:
        TimmBackbone(NAME, pretrained=remote)
    assert "local weights file" in str(err.value)
    assert f"timm.create_model('{NAME}', pretrained=True).state_dict()" in str(err.value)


def test_missing_local_file_and_bad_model_names(tmp_path) -> None:
    missing = tmp_path / "weights" / "effnet.pth"
    with pytest.raises(InputError, match=r"effnet\.pth.*does not exist"):
        TimmBackbone(NAME, pretrained=str(missing))
    with pytest.raises(ConfigError, match="not a timm model"):
        TimmBackbone("no_such_net")
    with pytest.raises(ConfigError, match="prefixes"):
        TimmBackbone("hf-hub:timm/resnet18.a1_in1k")


@pytest.mark.parametrize("with_classifier", [False, True])
def test_local_rgb_weights_load_into_a_grey_model(tmp_path, no_network, with_classifier: bool) -> None:
    torch.manual_seed(3)
    rgb = timm.create_model(NAME, pretrained=False, num_classes=1000 if with_classifier else 0, in_chans=3)
    path = tmp_path / "rgb.pth"
    torch.save(rgb.state_dict(), path)
    saved = torch.load(path, weights_only=True)
    grey = TimmBackbone(NAME, in_chans=1, pretrained=str(path))
    got = grey.model.state_dict()
    stem = saved["conv_stem.weight"]
    assert stem.shape[1] == 3 and got["conv_stem.weight"].shape[1] == 1
    assert torch.allclose(got["conv_stem.weight"], stem[:, 0:1] + stem[:, 1:2] + stem[:, 2:3])
    for key, value in got.items():
        if key != "conv_stem.weight":
            assert torch.equal(value, saved[key]), key
    # a grey image seen by the grey model = the same grey image in 3 copies seen by the RGB model
    x = torch.rand(1, 1, 64, 64)
    rgb.eval(), grey.eval()
    assert torch.allclose(
        grey(x), rgb.forward_head(rgb.forward_features(x.repeat(1, 3, 1, 1)), pre_logits=True), atol=1e-5
    )


def test_weights_of_another_network_are_refused(tmp_path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save(timm.create_model("resnet10t", num_classes=0).state_dict(), path)
    with pytest.raises(InputError, match=r"resnet\.pth"):
        TimmBackbone(NAME, pretrained=str(path))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"junk\.pth"):
        TimmBackbone(NAME, pretrained=str(junk))


def test_classifier_with_timm_backbone_builds_from_config() -> None:
    model = ImageClassifier(
        dict(type="TimmBackbone", model_name=NAME, in_chans=1, drop_rate=0.2), ClsHead(256, 2)
    ).eval()
    assert model.backbone.model.drop_rate == 0.2
    out = model(torch.zeros(2, 1, 64, 64), mode="predict")
    assert [s.pred_score.shape for s in out] == [(2,), (2,)]


CLASSIFIER_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "classifier"
STATED = re.compile(r"^# Parameters \(1 channel, 2 classes\): ([\d,]+) measured", re.M)


@pytest.mark.parametrize("config", sorted(p.name for p in CLASSIFIER_CONFIGS.glob("*.py")))
def test_classifier_configs_build_offline_with_the_stated_count(config: str, no_network) -> None:
    cfg = Config.fromfile(CLASSIFIER_CONFIGS / config)
    assert cfg.model.backbone.type == "TimmBackbone" and cfg.model.backbone.in_chans == 1
    assert cfg.model.backbone.pretrained is None
    assert cfg.default_hooks.checkpoint.save_best == "cls/auc"
    with torch.device("meta"):
        model = MODELS.build(cfg.model)
    stated = STATED.search((CLASSIFIER_CONFIGS / config).read_text())
    assert stated, f"{config}: no '# Parameters (1 channel, 2 classes): N measured' line"
    assert sum(p.numel() for p in model.parameters()) == int(stated[1].replace(",", ""))
    assert model.head.in_features == model.backbone.num_features
