"""ImageClassifier: the three mmengine modes, the loss against hand-computed cross entropy, and learning.

The learning test trains each backbone family (AlexNet, VGG, ResNet, a timm network) briefly with a plain
PyTorch loop on a separable synthetic task (a bright bar, horizontal for class 0 and vertical for class 1, at a
random place in noise) and checks the held-out accuracy against the majority-class rate (0.5).
"""

from __future__ import annotations

import math

import pytest
import torch
from mmengine.structures import BaseDataElement

from cxrdet.errors import ConfigError, InputError
from cxrdet.models.classifiers import VGG, AlexNet, ClsHead, ImageClassifier, ResNet, TimmBackbone
from cxrdet.registry import MODELS

pytestmark = pytest.mark.usefixtures("cxrdet_scope")  # builds in cxrdet's scope (tests/models/conftest.py)


def _tiny(num_classes: int = 3, **kwargs) -> ImageClassifier:
    backbone = VGG(stage_widths=(4, 8), convs_per_stage=(1, 1), out="avg")
    return ImageClassifier(backbone, ClsHead(8, num_classes), **kwargs)


def _samples(labels: list[int]) -> list[BaseDataElement]:
    out = []
    for i, k in enumerate(labels):
        sample = BaseDataElement(metainfo=dict(img_id=f"im{i}", img_path=f"/data/im{i}.png"))
        sample.gt_label = torch.tensor(k, dtype=torch.long)
        out.append(sample)
    return out


def test_tensor_mode_gives_logits() -> None:
    torch.manual_seed(0)
    logits = _tiny().eval()(torch.randn(5, 1, 16, 16), mode="tensor")
    assert logits.shape == (5, 3)
    assert logits.dtype == torch.float32


def test_loss_mode_is_cross_entropy_computed_by_hand() -> None:
    torch.manual_seed(0)
    model = _tiny().eval()
    x, labels = torch.randn(4, 1, 16, 16), [0, 2, 1, 2]
    logits = model(x, mode="tensor")
    hand = -sum(logits[i, k] - torch.logsumexp(logits[i], 0) for i, k in enumerate(labels)) / 4
    losses = model(x, _samples(labels), mode="loss")
    assert set(losses) == {"loss"}
    assert losses["loss"].item() == pytest.approx(hand.item(), rel=1e-5)


def test_class_weights_label_smoothing_and_accuracy_log() -> None:
    torch.manual_seed(0)
    x, labels = torch.randn(4, 1, 16, 16), [0, 2, 1, 2]
    model = _tiny(class_weight=[1.0, 2.0, 3.0], label_smoothing=0.1, log_accuracy=True).eval()
    logits = model(x, mode="tensor")
    logp = torch.log_softmax(logits, 1)
    w = torch.tensor([1.0, 2.0, 3.0])
    # weighted, smoothed cross entropy: sum_i [(1 - e) w_yi (-logp_i,yi) + e / C sum_c w_c (-logp_ic)] / sum_i w_yi
    eps, c = 0.1, 3
    num = sum((1 - eps) * w[k] * -logp[i, k] + eps / c * (w * -logp[i]).sum() for i, k in enumerate(labels))
    hand = num / sum(w[k] for k in labels)
    losses = model(x, _samples(labels), mode="loss")
    assert losses["loss"].item() == pytest.approx(hand.item(), rel=1e-5)
    acc = sum(int(logits[i].argmax() == k) for i, k in enumerate(labels)) / 4
    assert losses["accuracy"].item() == pytest.approx(acc)
    assert not losses["accuracy"].requires_grad


def test_predict_mode_sets_scores_and_labels_on_given_or_new_samples() -> None:
    torch.manual_seed(0)
    model = _tiny().eval()
    x = torch.randn(3, 1, 16, 16)
    logits = model(x, mode="tensor")
    given = _samples([0, 1, 2])
    out = model(x, given, mode="predict")
    assert out is given
    new = model(x, None, mode="predict")
    assert len(new) == 3 and all(isinstance(s, BaseDataElement) for s in new)
    for sample, row in zip(new, logits):
        assert sample.pred_score.shape == (3,)
        assert sample.pred_score.sum().item() == pytest.approx(1.0, abs=1e-6)
        assert torch.all(sample.pred_score >= 0)
        want = torch.exp(row) / torch.exp(row).sum()
        assert torch.allclose(sample.pred_score, want, atol=1e-6)
        assert sample.pred_label.dtype == torch.long and sample.pred_label.dim() == 0
        assert sample.pred_label.item() == int(row.argmax())
        assert "gt_label" not in sample


def test_bad_inputs_are_clear_errors() -> None:
    model = _tiny()
    x = torch.randn(2, 1, 16, 16)
    with pytest.raises(ConfigError, match="mode"):
        model(x, mode="train")
    unlabelled = _samples([0, 1])
    del unlabelled[1].gt_label
    with pytest.raises(InputError, match=r"/data/im1.png.*gt_label"):
        model(x, unlabelled, mode="loss")
    with pytest.raises(ConfigError, match="class weights"):
        _tiny(class_weight=[1.0, 2.0])
    with pytest.raises(ConfigError, match="in_features is 8"):
        ImageClassifier(VGG(stage_widths=(4, 16), convs_per_stage=(1, 1), out="avg"), ClsHead(8, 2))(x)


def test_builds_from_a_config_dict_and_exposes_the_backbones_cam_layer() -> None:
    model = MODELS.build(
        dict(
            type="ImageClassifier",
            backbone=dict(type="VGG", stage_widths=[4, 8], convs_per_stage=[1, 1], out="avg"),
            head=dict(type="ClsHead", in_features=8, num_classes=2, hidden_dims=[16], dropout=0.5),
            data_preprocessor=dict(type="ImgDataPreprocessor", mean=[0.5], std=[0.25]),
        )
    )
    assert model.cam_layer is model.backbone.cam_layer
    batch = dict(inputs=[torch.full((1, 16, 16), 0.75)], data_samples=_samples([1]))
    data = model.data_preprocessor(batch, training=False)
    assert torch.allclose(data["inputs"], torch.ones(1, 1, 16, 16))  # (0.75 - 0.5) / 0.25
    out = model.val_step(batch)
    assert out[0].pred_score.shape == (2,)


def _bars(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy images with one bright bar: horizontal (class 0) or vertical (class 1), anywhere."""
    g = torch.Generator().manual_seed(seed)
    x = 0.2 * torch.rand(n, 1, size, size, generator=g)
    y = torch.arange(n) % 2
    length, width = size // 2, max(2, size // 16)
    for i in range(n):
        r, c = torch.randint(0, size - length, (2,), generator=g).tolist()
        if y[i] == 0:
            x[i, 0, r : r + width, c : c + length] += 0.8
        else:
            x[i, 0, r : r + length, c : c + width] += 0.8
    return (x - 0.5) / 0.25, y


LEARNERS = {
    "alexnet": (96, lambda: (AlexNet(widths=(8, 16, 16, 16, 16)), ClsHead(16, 2, hidden_dims=(32,), dropout=0.5))),
    "vgg": (32, lambda: (VGG(stage_widths=(8, 16), convs_per_stage=(1, 1), norm=True, out="avg"), ClsHead(16, 2))),
    "resnet": (
        32,
        lambda: (
            ResNet(
                stem_channels=8,
                stem_kernel=3,
                stem_stride=1,
                stem_pool=False,
                stage_widths=(8, 16),
                blocks_per_stage=(1, 1),
            ),
            ClsHead(16, 2),
        ),
    ),
    "timm": (32, lambda: (TimmBackbone("test_efficientnet", in_chans=1), ClsHead(256, 2))),
}


@pytest.fixture
def one_thread():
    """Tiny models train fastest on one thread (two threads on a shared 2-core machine spin-wait)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_each_backbone_learns_a_separable_task(name: str, one_thread) -> None:
    size, make = LEARNERS[name]
    torch.manual_seed(0)
    model = ImageClassifier(*make())
    x_train, y_train = _bars(128, size, seed=1)
    x_val, y_val = _bars(64, size, seed=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def accuracy() -> float:
        model.eval()
        with torch.no_grad():
            return (model(x_val).argmax(1) == y_val).float().mean().item()

    before = accuracy()
    losses = []
    for _epoch in range(8):
        model.train()
        for i in range(0, len(x_train), 16):
            samples = _samples(y_train[i : i + 16].tolist())
            loss = model(x_train[i : i + 16], samples, mode="loss")["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    after = accuracy()
    majority = 0.5
    assert after >= 0.9, (name, before, after)
    assert after - majority >= 0.35
    assert sum(losses[-8:]) / 8 < min(math.log(2), sum(losses[:8]) / 8) - 0.2
