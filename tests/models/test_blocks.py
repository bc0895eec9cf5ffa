"""CBAM (channel and spatial gates) and the Inception-ResNet modules IncRes1/IncRes2 against hand computations.

Shapes; the channel gate's weights against a hand-computed sigmoid with set MLP weights; the spatial gate reads
exactly [channel max, channel mean] in that order (a swapped or different pooling fails); gates forced to 1 make
CBAM the identity; IncRes with scale 0 is ReLU(x); every parameter is trained; parameter counts against the
per-unit formulas counted by hand in the comments.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cxrdet.models.blocks import CBAM, ChannelGate, IncRes1, IncRes2, SpatialGate

pytestmark = pytest.mark.usefixtures("cxrdet_scope")  # builds in cxrdet's scope (tests/models/conftest.py)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny convolutions run fastest on one thread on the shared 2-core machine; the setting is restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("module", [CBAM(32), IncRes1(32), IncRes2(32)], ids=["cbam", "incres1", "incres2"])
def test_blocks_keep_the_input_shape(module):
    x = torch.randn(2, 32, 9, 11)
    assert module(x).shape == (2, 32, 9, 11)


def test_cbam_keeps_its_last_spatial_attention_detached():
    cbam = CBAM(16)
    assert cbam.last_spatial_attention is None
    x = torch.randn(3, 16, 7, 5, requires_grad=True)
    cbam(x).sum().backward()
    att = cbam.last_spatial_attention
    assert att.shape == (3, 1, 7, 5)
    assert not att.requires_grad
    assert float(att.min()) > 0.0 and float(att.max()) < 1.0
    cbam(torch.randn(1, 16, 4, 4))
    assert cbam.last_spatial_attention.shape == (1, 1, 4, 4)  # replaced by each forward


def test_channel_gate_hidden_units_have_a_floor():
    assert ChannelGate(256).hidden == 16  # 256 // 16
    assert ChannelGate(512).hidden == 32
    assert ChannelGate(64).hidden == 8  # 64 // 16 = 4 -> floor 8
    assert ChannelGate(32).hidden == 8
    assert ChannelGate(4).hidden == 4  # never more units than channels
    assert ChannelGate(64, reduction=4, min_hidden=2).hidden == 16


def test_channel_gate_equals_a_hand_computation():
    gate = ChannelGate(2, reduction=16, min_hidden=8)  # hidden = min(8, 2) = 2
    with torch.no_grad():
        gate.mlp[0].weight.copy_(torch.eye(2))
        gate.mlp[0].bias.zero_()
        gate.mlp[2].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        gate.mlp[2].bias.copy_(torch.tensor([0.0, -1.0]))
    x = torch.tensor([[[[1.0, 3.0], [-2.0, 0.0]], [[-1.0, 0.5], [1.5, 2.0]]]])
    # mlp(v) = [relu(v0), 2 relu(v1) - 1]; avg = [0.5, 0.75], max = [3, 2]
    # mlp(avg) = [0.5, 0.5], mlp(max) = [3, 3]: the weights are sigmoid([3.5, 3.5])
    expected_w = [_sigmoid(3.5), _sigmoid(3.5)]
    w = gate.attention(x)[0]
    assert w.tolist() == pytest.approx(expected_w, abs=1e-6)
    out = gate(x)
    assert torch.allclose(out[0, 0], x[0, 0] * expected_w[0], atol=1e-6)
    # channel 1 all -1: avg = max = -1 -> relu 0 -> mlp -1 each -> sigmoid(-2); channel 0 as above
    y = torch.tensor([[[[1.0, 3.0], [-2.0, 0.0]], [[-1.0, -1.0], [-1.0, -1.0]]]])
    assert gate.attention(y)[0].tolist() == pytest.approx([_sigmoid(3.5), _sigmoid(-2.0)], abs=1e-6)


def test_channel_gate_weights_are_in_zero_one():
    gate = ChannelGate(48)
    with torch.no_grad():
        w = gate.attention(torch.randn(4, 48, 6, 6) * 10)
    assert w.shape == (4, 48)
    assert float(w.min()) >= 0.0 and float(w.max()) <= 1.0
    assert float(w.std()) > 0.0


def _spatial_gate_reading(max_w: float, mean_w: float) -> SpatialGate:
    gate = SpatialGate()
    with torch.no_grad():
        gate.conv.weight.zero_()
        gate.conv.weight[0, 0, 3, 3] = max_w  # input channel 0 = the channel max (centre tap)
        gate.conv.weight[0, 1, 3, 3] = mean_w  # input channel 1 = the channel mean
    gate.eval()  # BN with running mean 0, var 1, weight 1, bias 0: y = x / sqrt(1 + eps)
    return gate


def test_spatial_gate_reads_channel_max_then_channel_mean():
    x = torch.zeros(1, 3, 5, 5)
    x[0, :, 2, 2] = torch.tensor([1.0, 2.0, 6.0])  # max 6, mean 3
    x[0, :, 0, 4] = torch.tensor([-4.0, -1.0, -7.0])  # max -1, mean -4
    s = math.sqrt(1 + 1e-5)
    att_max = _spatial_gate_reading(1.0, 0.0).attention(x)
    att_mean = _spatial_gate_reading(0.0, 1.0).attention(x)
    assert float(att_max[0, 0, 2, 2]) == pytest.approx(_sigmoid(6.0 / s), abs=1e-6)
    assert float(att_mean[0, 0, 2, 2]) == pytest.approx(_sigmoid(3.0 / s), abs=1e-6)
    assert float(att_max[0, 0, 0, 4]) == pytest.approx(_sigmoid(-1.0 / s), abs=1e-6)
    assert float(att_mean[0, 0, 0, 4]) == pytest.approx(_sigmoid(-4.0 / s), abs=1e-6)
    # everywhere (random input): the attention of each reading is sigmoid of that channel statistic
    r = torch.randn(2, 6, 8, 9)
    assert torch.allclose(_spatial_gate_reading(1.0, 0.0).attention(r)[:, 0], torch.sigmoid(r.max(1).values / s))
    assert torch.allclose(_spatial_gate_reading(0.0, 1.0).attention(r)[:, 0], torch.sigmoid(r.mean(1) / s))


def test_spatial_gate_kernel_is_7x7_same_padding():
    gate = SpatialGate()
    assert gate.conv.kernel_size == (7, 7) and gate.conv.padding == (3, 3) and gate.conv.bias is None
    assert gate.conv.in_channels == 2 and gate.conv.out_channels == 1
    assert isinstance(gate.bn, nn.BatchNorm2d)


def test_cbam_with_gates_forced_open_is_the_identity():
    cbam = CBAM(24)
    with torch.no_grad():
        cbam.channel_gate.mlp[2].weight.zero_()
        cbam.channel_gate.mlp[2].bias.fill_(30.0)  # sigmoid(30 + 30) = 1 in float32
        cbam.spatial_gate.conv.weight.zero_()
        cbam.spatial_gate.bn.bias.fill_(60.0)
    cbam.eval()
    x = torch.randn(2, 24, 6, 7)
    assert torch.allclose(cbam(x), x, atol=1e-6)
    assert torch.allclose(cbam.last_spatial_attention, torch.ones(2, 1, 6, 7))
    # and closing the channel gate (large negative bias) zeroes the output: the gate really multiplies
    with torch.no_grad():
        cbam.channel_gate.mlp[2].bias.fill_(-30.0)
    assert float(cbam(x).abs().max()) < 1e-10


@pytest.mark.parametrize("cls", [IncRes1, IncRes2])
@pytest.mark.parametrize("train", [True, False])
def test_incres_with_scale_zero_is_relu(cls, train):
    module = cls(16, scale=0.0).train(train)
    x = torch.randn(2, 16, 5, 6)
    assert torch.equal(module(x), torch.relu(x))
    pos = x.abs()
    assert torch.equal(module(pos), pos)
    # with a non-zero scale the branch changes the output
    assert not torch.allclose(cls(16, scale=0.2).train(train)(pos), pos)


def test_incres_residual_is_x_plus_scaled_branch():
    module = IncRes1(16, scale=0.5).eval()
    x = torch.randn(1, 16, 5, 5).abs()
    branch = module.proj(torch.cat([b(x) for b in module.branches], dim=1))
    assert torch.allclose(module(x), torch.relu(x + 0.5 * branch), atol=1e-6)


def test_incres2_uses_the_1x1_3x3_1x3_3x1_kernels():
    kernels = [m.kernel_size for m in IncRes2(16).branches.modules() if isinstance(m, nn.Conv2d)]
    assert sorted(set(kernels)) == [(1, 1), (1, 3), (3, 1), (3, 3)]
    kernels1 = [m.kernel_size for m in IncRes1(16).branches.modules() if isinstance(m, nn.Conv2d)]
    assert sorted(set(kernels1)) == [(1, 1), (3, 3)]
    assert len(IncRes1(16).branches) == 4 and len(IncRes2(16).branches) == 4


@pytest.mark.parametrize("module", [CBAM(16), IncRes1(16), IncRes2(16)], ids=["cbam", "incres1", "incres2"])
def test_every_parameter_gets_a_gradient(module):
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8)
    (module(x) * torch.randn(2, 16, 8, 8)).sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None, name
        assert float(p.grad.abs().sum()) > 0.0, name


def test_parameter_counts_match_hand_counts():
    # CBAM(64): hidden 8; Linear(64, 8) 512 + 8, Linear(8, 64) 512 + 64; spatial conv 2*7*7 = 98, BN 2
    assert _n_params(CBAM(64)) == 512 + 8 + 512 + 64 + 98 + 2 == 1196
    # CBAM(512): hidden 32: 2 * 512 * 32 + 32 + 512 + 100
    assert _n_params(CBAM(512)) == 32768 + 32 + 512 + 100
    # IncRes1(32), b = 8; a unit of k taps = k*cin*cout + 2*cout (BN):
    # b0 1x1: 256+16 = 272; b1 272 + 3x3 (576+16); b2 272 + 2 x 592; b3 pool + 272; proj 32*32 + 32
    assert _n_params(IncRes1(32)) == 272 + (272 + 592) + (272 + 592 + 592) + 272 + 1056 == 3920
    # IncRes2(32): b0 272; b1 272 + 592; b2 272 + 1x3 (192+16) + 3x1 (208); b3 the same; proj 1056
    assert _n_params(IncRes2(32)) == 272 + 864 + (272 + 208 + 208) * 2 + 1056 == 3568
    # formulas: IncRes1 8Cb + 27b^2 + 14b + C, IncRes2 8Cb + 21b^2 + 18b + C (C=64, b=16)
    assert _n_params(IncRes1(64, branch_channels=16)) == 8 * 64 * 16 + 27 * 256 + 14 * 16 + 64
    assert _n_params(IncRes2(64, branch_channels=16)) == 8 * 64 * 16 + 21 * 256 + 18 * 16 + 64


def test_registered_in_cxrdet_models():
    from cxrdet.registry import MODELS

    cbam = MODELS.build(dict(type="CBAM", channels=16))
    assert isinstance(cbam, CBAM)
    assert isinstance(MODELS.build(dict(type="IncRes2", channels=16, scale=0.1)), IncRes2)
