"""GAINClassifier on synthetic tensors: Grad-CAM by hand, the create_graph path, predict under no_grad, the losses.

References are independent of the code: the Grad-CAM of a known network is computed by hand (a 1x1 identity conv
and a linear head make ``dscore_c / dF_k = W[c, k] / (h w)``); the mask loss's gradient is checked against
central finite differences (the create_graph path: without it the head would get no gradient from the mask term
at all, and the backbone's would be wrong).
"""

from __future__ import annotations

import pytest
import torch
from mmengine.structures import BaseDataElement
from torch import nn

from cxrdet.errors import ConfigError, InputError
from cxrdet.models.classifiers import VGG, ClsHead
from cxrdet.models.gain import GAINClassifier, erase, grad_cam_attention
from cxrdet.registry import MODELS

pytestmark = pytest.mark.usefixtures("cxrdet_scope")  # builds in cxrdet's scope (tests/models/conftest.py)

# input: 2 channels of 2 x 2; a 1x1 identity conv makes the feature map the input itself
X = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[4.0, 0.0], [0.0, -4.0]]]])
W = torch.tensor([[1.0, -1.0], [0.5, 2.0]])  # head: class 0 = ch0 - ch1, class 1 = 0.5 ch0 + 2 ch1


class _Identity(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))

    @property
    def cam_layer(self) -> nn.Module:
        return self.conv

    def forward(self, x):
        return self.conv(x)


def _known() -> GAINClassifier:
    head = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        head.weight.copy_(W)
    return GAINClassifier(_Identity(), head).eval()


def _samples(labels, masks=None) -> list[BaseDataElement]:
    out = []
    for i, k in enumerate(labels):
        s = BaseDataElement(metainfo=dict(img_id=f"im{i}", img_path=f"/d/im{i}.png"))
        s.gt_label = torch.tensor(k)
        if masks is not None and masks[i] is not None:
            s.gt_mask = torch.as_tensor(masks[i], dtype=torch.long)
        out.append(s)
    return out


def test_attention_of_a_known_network_is_the_hand_computed_grad_cam() -> None:
    model = _known()
    # class 1: weights W[1] / 4 = (0.125, 0.5): 0.125 ch0 + 0.5 ch1 = [[2.125, 0.25], [0.375, -1.5]] -> ReLU, / 2.125
    _, att1 = model.attention(X, torch.tensor([1]))
    hand1 = torch.tensor([[1.0, 0.25 / 2.125], [0.375 / 2.125, 0.0]])
    torch.testing.assert_close(att1[0], hand1, atol=1e-5, rtol=0)
    # logits = W @ mean(F) = W @ (2.5, 0) = (2.5, 1.25): predicted class 0, weights (0.25, -0.25):
    # [[0.25 - 1, 0.5], [0.75, 1 + 1]] -> ReLU -> / 2
    (sample,) = model(X, None, mode="predict")
    assert int(sample.pred_label) == 0
    torch.testing.assert_close(sample.pred_attention, torch.tensor([[0.0, 0.25], [0.375, 1.0]]), atol=1e-5, rtol=0)
    torch.testing.assert_close(sample.pred_score, torch.softmax(torch.tensor([2.5, 1.25]), 0))


def test_attention_is_upsampled_to_the_input_and_an_all_zero_map_stays_zero() -> None:
    features = torch.zeros(1, 1, 2, 2, requires_grad=True)
    att = grad_cam_attention(features, (features * -1.0).sum(dim=(1, 2, 3)), (8, 6)).detach()
    assert att.shape == (1, 8, 6) and float(att.abs().max()) == 0.0
    f = torch.tensor([[[[0.0, 1.0], [0.0, 0.0]]]], requires_grad=True)
    att = grad_cam_attention(f, f.sum(dim=(1, 2, 3)), (4, 4))
    assert float(att.max()) == pytest.approx(1.0, abs=1e-5) and float(att.min()) == 0.0
    assert float(att[0, 0, 3]) > float(att[0, 3, 0])  # bilinear: the hot cell is the top right one


def test_mask_loss_gradient_reaches_head_and_first_conv_and_matches_finite_differences() -> None:
    torch.manual_seed(0)
    backbone = VGG(in_channels=3, stage_widths=(4, 6), convs_per_stage=(1, 1), pool_last=False, out="map")
    head = ClsHead(6, 2, hidden_dims=(5,))  # a nonlinear head: the Grad-CAM weights depend on the features
    model = GAINClassifier(backbone, head, cls_weight=0.0, mask_weight=1.0).double().train()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    masks = [torch.zeros(8, 8), torch.zeros(8, 8), torch.zeros(8, 8)]
    masks[0][2:6, 1:4] = 1
    masks[2][0:3, 4:8] = 1
    samples = _samples([1, 0, 1], masks)
    loss = model(x, samples, mode="loss")["loss_mask"]
    model.zero_grad()
    loss.backward()
    first_conv, head_out = backbone.features[0].weight, head.layers[-1].weight
    for param in (first_conv, head_out):  # the head gets none at all from the mask term without create_graph
        assert param.grad is not None and float(param.grad.abs().sum()) > 0

    model.eval()  # finite differences need a deterministic function: BN on running statistics

    def mask_loss() -> float:
        return float(model(x, samples, mode="loss")["loss_mask"])

    for param in (first_conv, head_out):
        model.zero_grad()
        model(x, samples, mode="loss")["loss_mask"].backward()
        analytic = param.grad.clone()
        numeric = torch.zeros_like(param)
        flat, step = param.data.view(-1), 1e-6
        for j in range(0, flat.numel(), max(1, flat.numel() // 12)):
            keep = flat[j].item()
            flat[j] = keep + step
            up = mask_loss()
            flat[j] = keep - step
            down = mask_loss()
            flat[j] = keep
            numeric.view(-1)[j] = (up - down) / (2 * step)
        checked = numeric.view(-1) != 0
        assert int(checked.sum()) >= 3
        torch.testing.assert_close(analytic.view(-1)[checked], numeric.view(-1)[checked], rtol=1e-4, atol=1e-7)


def test_mask_term_skips_images_without_mask_and_normal_masks_unless_asked() -> None:
    model = _known()
    full = torch.ones(2, 2, dtype=torch.long)
    empty = torch.zeros(2, 2, dtype=torch.long)
    _, att = model.attention(X, torch.tensor([1]))
    hand = float(((att[0] - 1.0) ** 2).mean()) * 0.1
    assert float(model(X, _samples([1], [full]), mode="loss")["loss_mask"]) == pytest.approx(hand, rel=1e-5)
    assert float(model(X, _samples([1], [None]), mode="loss")["loss_mask"]) == 0.0
    assert float(model(X, _samples([1], [empty]), mode="loss")["loss_mask"]) == 0.0
    every = GAINClassifier(_Identity(), model.head, mask_positive_only=False).eval()
    hand_empty = float((att[0] ** 2).mean()) * 0.1
    assert float(every(X, _samples([1], [empty]), mode="loss")["loss_mask"]) == pytest.approx(hand_empty, rel=1e-5)


def test_loss_weights_and_cross_entropy_by_hand() -> None:
    model = _known()
    losses = model(X, _samples([1], [None]), mode="loss")
    ce = -(1.25 - torch.logsumexp(torch.tensor([2.5, 1.25]), 0))
    assert set(losses) == {"loss_cls", "loss_mask", "accuracy"}
    assert float(losses["loss_cls"]) == pytest.approx(0.9 * float(ce), rel=1e-5)
    assert float(losses["accuracy"]) == 0.0
    plain = GAINClassifier(_Identity(), model.head, cls_weight=1.0, mask_weight=0.0, log_accuracy=False).eval()
    assert set(plain(X, _samples([1]), mode="loss")) == {"loss_cls"}


def test_mining_term_is_the_target_probability_on_the_erased_image() -> None:
    model = _known()
    mining = GAINClassifier(_Identity(), model.head, mining_weight=0.5, mining_classes=[1]).eval()
    _, att = model.attention(X, torch.tensor([1]))
    soft = torch.sigmoid(10 * (att - 0.5))
    erased = X - soft[:, None] * X
    logits = W @ erased.mean(dim=(2, 3))[0]
    hand = 0.5 * float(torch.softmax(logits, 0)[1])
    assert float(mining(X, _samples([1]), mode="loss")["loss_mining"]) == pytest.approx(hand, rel=1e-5)
    assert float(mining(X, _samples([0]), mode="loss")["loss_mining"]) == 0.0  # class 0 is not mined
    torch.testing.assert_close(erase(X, att, 10, 0.5), erased)
    torch.manual_seed(0)
    backbone = VGG(in_channels=3, stage_widths=(4, 6), convs_per_stage=(1, 1), pool_last=False, out="map")
    trained = GAINClassifier(backbone, ClsHead(6, 2), cls_weight=0.0, mask_weight=0.0, mining_weight=1.0).train()
    trained(torch.rand(2, 3, 8, 8), _samples([1, 0]), mode="loss")["loss_mining"].backward()
    assert float(backbone.features[0].weight.grad.abs().sum()) > 0  # the mining term alone trains the backbone


def test_predict_gives_attention_under_no_grad_and_leaves_no_parameter_gradient() -> None:
    torch.manual_seed(0)
    backbone = VGG(in_channels=3, stage_widths=(4, 8), convs_per_stage=(1, 1), pool_last=False, out="map")
    model = GAINClassifier(backbone, ClsHead(8, 2)).eval()
    with torch.no_grad():
        samples = model(torch.rand(2, 3, 16, 12), None, mode="predict")
    for s in samples:
        assert s.pred_attention.shape == (16, 12) and not s.pred_attention.requires_grad
        assert float(s.pred_attention.min()) >= 0.0 and float(s.pred_attention.max()) <= 1.0 + 1e-6
        assert float(s.pred_score.sum()) == pytest.approx(1.0)
    assert all(p.grad is None for p in model.parameters())
    assert model.cam_layer is backbone.cam_layer
    assert model(torch.rand(2, 3, 16, 12), mode="tensor").shape == (2, 2)


def test_bad_configs_and_inputs_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="mask_weight"):
        GAINClassifier(_Identity(), nn.Linear(2, 2), mask_weight=-1)
    with pytest.raises(ConfigError, match="all 0"):
        GAINClassifier(_Identity(), nn.Linear(2, 2), cls_weight=0, mask_weight=0)
    pooled = GAINClassifier(VGG(in_channels=3, stage_widths=(4,), convs_per_stage=(1,), out="avg"), ClsHead(4, 2))
    with pytest.raises(ConfigError, match="last conv map"):
        pooled(torch.rand(1, 3, 8, 8), mode="tensor")
    with pytest.raises(InputError, match=r"im0\.png.*larger"):
        _known()(X, _samples([1], [torch.ones(3, 3)]), mode="loss")
    with pytest.raises(InputError, match="gt_label"):
        _known()(X, [BaseDataElement(metainfo=dict(img_path="/d/a.png"))], mode="loss")


def test_registered_and_built_from_a_config() -> None:
    model = MODELS.build(
        dict(
            type="GAINClassifier",
            backbone=dict(type="VGG", in_channels=3, stage_widths=[4], convs_per_stage=[1], pool_last=False, out="map"),
            head=dict(type="ClsHead", in_features=4, num_classes=2),
            mask_weight=0.2,
        )
    )
    assert isinstance(model, GAINClassifier) and model.mask_weight == 0.2 and model.cls_weight == 0.9


def test_cxrdet_explains_the_attention_gain_trains() -> None:
    """``cxrdet explain``'s Grad-CAM (models.gradcam on ``cam_layer``, tensor mode) is GAIN's own attention."""
    import torch.nn.functional as F

    from cxrdet.models.gradcam import grad_cam

    torch.manual_seed(1)
    backbone = VGG(in_channels=3, stage_widths=(4, 8), convs_per_stage=(1, 1), norm=True, pool_last=False, out="map")
    model = GAINClassifier(backbone, ClsHead(8, 2, hidden_dims=(6,))).eval()
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        samples = model(x, None, mode="predict")
    cam = grad_cam(
        model, x, layer=model.cam_layer, score_fn=lambda out: out.gather(1, out.argmax(1, keepdim=True))[:, 0]
    )
    up = F.interpolate(cam[:, None], size=(16, 16), mode="bilinear", align_corners=False)[:, 0]
    up = up / up.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    torch.testing.assert_close(torch.stack([s.pred_attention for s in samples]), up, atol=1e-4, rtol=0)
