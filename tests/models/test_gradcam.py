"""Grad-CAM and CBAM maps (``cxrdet.models.gradcam``) against hand computations on tiny nets with fixed weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cxrdet.models.gradcam import cbam_maps, grad_cam

K0 = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], np.float64)  # identity
K1 = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float64) / 16  # blur


class ConvGapLinear(nn.Module):
    """score = fc(mean_ij conv(x)): dscore/dA_k(i, j) = w_k / (h w), so the Grad-CAM weights are w_k / (h w)."""

    def __init__(self, w: tuple[float, float]):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.fc = nn.Linear(2, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor(np.stack([K0, K1])[:, None], dtype=torch.float32))
            self.fc.weight.copy_(torch.tensor([w]))
            self.fc.bias.fill_(0.3)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def _correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """3 x 3 cross-correlation with zero padding, by loops (the reference for the conv layer)."""
    padded = np.pad(image, 1)
    out = np.zeros_like(image)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            out[i, j] = (padded[i : i + 3, j : j + 3] * kernel).sum()
    return out


def _score(output):
    return output[:, 0]


def test_matches_the_hand_computation():
    rng = np.random.default_rng(0)
    images = rng.normal(0, 1, (2, 6, 7))
    w = (1.0, -2.5)
    model = ConvGapLinear(w)
    cam = grad_cam(model, torch.tensor(images[:, None], dtype=torch.float32), layer=model.conv, score_fn=_score)
    assert cam.shape == (2, 6, 7) and cam.dtype == torch.float32 and not cam.requires_grad
    for b, image in enumerate(images):
        a0, a1 = _correlate(image, K0), _correlate(image, K1)
        alpha0, alpha1 = w[0] / 42, w[1] / 42  # w_k / (h w), h w = 6 x 7
        expected = np.maximum(alpha0 * a0 + alpha1 * a1, 0)
        expected /= expected.max()
        np.testing.assert_allclose(cam[b].numpy(), expected, atol=1e-5)
        assert cam[b].max() == pytest.approx(1.0)


def test_no_positive_evidence_stays_all_zero():
    model = ConvGapLinear((-1.0, -1.0))  # every positive activation lowers the score
    images = torch.rand(1, 1, 5, 5) + 0.1  # positive: both channels' activations are positive
    cam = grad_cam(model, images, layer=model.conv, score_fn=_score)
    assert torch.equal(cam, torch.zeros(1, 5, 5))


class BlobNet(nn.Module):
    """A blob detector: conv (3 x 3 ones, bias -4) -> ReLU -> avg-pool 2 -> GAP -> 2 logits (+1 / -1 per unit)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.frozen = nn.BatchNorm1d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.fill_(-4.0)
            self.fc.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        features = self.pool(self.relu(self.conv(x)))
        return self.fc(self.drop(self.frozen(features.mean(dim=(2, 3)))))


def _blobs() -> torch.Tensor:
    x = torch.zeros(2, 1, 32, 32)
    x[0, 0, 19:22, 7:10] = 1.0  # 3 x 3 blob centred at (20, 8)
    x[1, 0, 4:7, 25:28] = 1.0  # centred at (5, 26)
    return x


def _blob_score(logits):
    return logits[:, 1]


def test_peaks_where_the_evidence_is_and_is_normalised_per_image():
    model = BlobNet()
    cam = grad_cam(model, _blobs(), layer=model.pool, score_fn=_blob_score)
    assert cam.shape == (2, 16, 16)
    for b, (row, col) in enumerate([(20, 8), (5, 26)]):
        peak = divmod(int(cam[b].argmax()), 16)
        assert abs(peak[0] - row // 2) <= 1 and abs(peak[1] - col // 2) <= 1, (b, peak)
        assert cam[b].max() == pytest.approx(1.0) and cam[b].min() == 0.0
        far = cam[b].clone()
        far[max(0, row // 2 - 2) : row // 2 + 3, max(0, col // 2 - 2) : col // 2 + 3] = 0
        assert far.max() == 0.0  # nothing away from the blob


def test_works_under_no_grad_and_restores_modes_hooks_and_grads():
    model = BlobNet()
    model.train()
    model.frozen.eval()  # a part the caller keeps in eval mode
    x = _blobs()
    reference = grad_cam(model, x, layer=model.pool, score_fn=_blob_score)
    with torch.no_grad():
        again = grad_cam(model, x, layer=model.pool, score_fn=_blob_score)
    assert torch.equal(reference, again)  # eval mode: dropout off, same map every time
    assert model.training and model.drop.training and not model.frozen.training
    assert all(not m._forward_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_frozen_parameters_and_a_failing_score_leave_no_hook():
    model = BlobNet()
    for p in model.parameters():
        p.requires_grad_(False)
    cam = grad_cam(model, _blobs(), layer=model.pool, score_fn=_blob_score)
    assert cam.max() == pytest.approx(1.0)

    def bad_score(_logits):
        raise RuntimeError("boom")

    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        grad_cam(model, _blobs(), layer=model.pool, score_fn=bad_score)
    assert all(not m._forward_hooks for m in model.modules()) and model.training


def test_dict_output_and_an_expected_value_score():
    class TwoHeads(BlobNet):
        def forward(self, x):
            logits = super().forward(x)
            return {"age": torch.cat([logits, -logits], dim=1), "sex": logits[:, :1]}

    model = TwoHeads()
    centres = torch.tensor([1.5, 4.5, 7.5, 10.5])

    def expected_age(out):
        return (out["age"].softmax(dim=1) * centres).sum(dim=1)

    cam = grad_cam(model, _blobs(), layer=model.pool, score_fn=expected_age)
    assert cam.shape == (2, 16, 16) and cam.min() >= 0 and cam.max() <= 1


@pytest.mark.parametrize(
    "layer, score_fn, message",
    [
        (nn.Conv2d(1, 1, 1), _blob_score, "did not run"),
        (None, lambda logits: logits, "one score per image"),
        (None, lambda logits: logits.sum(), "one score per image"),
    ],
)
def test_errors(layer, score_fn, message):
    model = BlobNet()
    with pytest.raises(ValueError, match=message):
        grad_cam(model, _blobs(), layer=layer or model.pool, score_fn=score_fn)
    assert all(not m._forward_hooks for m in model.modules())


def test_layer_must_output_a_feature_map():
    model = ConvGapLinear((1.0, 1.0))
    with pytest.raises(ValueError, match="B x K x h x w"):
        grad_cam(model, torch.rand(2, 1, 4, 4), layer=model.fc, score_fn=_score)


def test_cbam_maps_collects_every_module_with_a_spatial_attention():
    class FakeCbam(nn.Module):
        def __init__(self, gain: float):
            super().__init__()
            self.gain = gain
            self.last_spatial_attention = None

        def forward(self, x):
            attention = torch.sigmoid(self.gain * x.mean(dim=1, keepdim=True))
            self.last_spatial_attention = attention.detach()
            return x * attention

    net = nn.Sequential(FakeCbam(1.0), nn.Conv2d(1, 1, 1), nn.Sequential(FakeCbam(2.0)), FakeCbam(3.0))
    assert cbam_maps(net) == []  # no forward yet
    net[3] = nn.Identity()
    x = torch.rand(2, 1, 5, 6)
    net(x)
    maps = cbam_maps(net)
    assert len(maps) == 2 and all(m.shape == (2, 1, 5, 6) and not m.requires_grad for m in maps)
    torch.testing.assert_close(maps[0], torch.sigmoid(x))  # the first module's map, then the nested one's
