"""GAIN, the differentiable attention: Grad-CAM of a class score on the last conv map, and the erased image.

Part of :class:`~cxrdet.models.gain.gain_classifier.GAINClassifier` (loss and predict modes). With ``F`` the
backbone's last feature map (``B x K x h x w``) and ``y`` the explained score of each image, the attention is
``A = ReLU(sum_k mean_ij(dy/dF_k(i, j)) * F_k)`` (Grad-CAM, Selvaraju et al. 2017), upsampled bilinearly to the
input size and divided by its maximum per image (at least ``eps``, so an all-zero map stays zero; an added
``eps`` would distort maps whose values are small, as Grad-CAM's are: ``dy/dF`` carries a ``1 / (h w)``). The gradient
``dy/dF`` comes from ``torch.autograd.grad(..., create_graph=True)``: it is itself a differentiable function of
the head's and the backbone's weights, so a loss on ``A`` trains both (a ``.backward()`` into hooks, as the public
GAIN code does, would make it a constant). :func:`erase` is GAIN's attention-mining input
``I* = I - sigmoid(w (A - s)) * I`` (Li et al., 2018; public code w = 10, s = 0.5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-8
"""Smallest divisor: a map whose maximum is below it is divided by it instead (an all-zero map stays zero)."""


def grad_cam_attention(
    features: Tensor,
    score: Tensor,
    out_size: tuple[int, int] | None = None,
    *,
    create_graph: bool = True,
    eps: float = EPS,
) -> Tensor:
    """Grad-CAM attention of ``score`` on ``features``, in [0, 1] per image.

    Args:
        features: the last conv feature map ``B x K x h x w`` (part of the graph that gave ``score``).
        score: the explained score per image, shape ``[B]`` (e.g. the target class's logit).
        out_size: ``(H, W)`` to upsample to (bilinear, ``align_corners=False``); None keeps ``h x w``.
        create_graph: keep the gradient differentiable (training); False for inference.
        eps: the smallest divisor.

    Returns:
        ``B x H x W`` (or ``B x h x w``) float maps, ``A / max(max(A), eps)`` per image.

    Raises:
        ValueError: ``features`` is not ``B x K x h x w``, ``score`` is not ``[B]``, or the score does not depend
            on the features.
    """
    if features.dim() != 4:
        raise ValueError(f"GAIN attention needs a B x K x h x w feature map, got shape {tuple(features.shape)}")
    if score.shape != (features.shape[0],):
        raise ValueError(f"GAIN attention needs one score per image ({features.shape[0]}), got {tuple(score.shape)}")
    (grads,) = torch.autograd.grad(score.sum(), features, create_graph=create_graph, allow_unused=True)
    if grads is None:
        raise ValueError("the explained score does not depend on the feature map")
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * features).sum(dim=1, keepdim=True))
    if out_size is not None and tuple(cam.shape[-2:]) != tuple(out_size):
        cam = F.interpolate(cam, size=tuple(int(s) for s in out_size), mode="bilinear", align_corners=False)
    peak = cam.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    return (cam / peak.clamp_min(eps)).squeeze(1)


def erase(inputs: Tensor, attention: Tensor, w: float = 10.0, sigma: float = 0.5) -> Tensor:
    """GAIN's erased image ``I* = I - sigmoid(w (A - sigma)) * I`` (attended pixels removed, softly).

    Args:
        inputs: the (preprocessed) batch ``B x C x H x W``.
        attention: ``B x H x W`` maps in [0, 1] (from :func:`grad_cam_attention` at the input size).
        w: steepness of the soft threshold.
        sigma: the threshold.

    Returns:
        The erased batch, same shape as ``inputs`` (differentiable in ``attention``).
    """
    if attention.shape != (inputs.shape[0], *inputs.shape[-2:]):
        raise ValueError(f"attention {tuple(attention.shape)} does not cover inputs {tuple(inputs.shape)}")
    soft = torch.sigmoid(float(w) * (attention - float(sigma))).unsqueeze(1)
    return inputs - soft * inputs
