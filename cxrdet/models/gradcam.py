"""Explainability of cxrdet's classifiers and TJ-Net: Grad-CAM maps and the CBAM modules' spatial attention.

Used by ``cxrdet explain`` after a model is built from its config and checkpoint: :func:`grad_cam` explains a
chosen score (a class logit, TJ-Net's expected age) at a layer (a model's ``cam_layer``), :func:`cbam_maps` collects
the spatial attention every CBAM-like module kept from the last forward. ``cxrdet.io.overlays`` draws either over
the image in its own geometry.

Grad-CAM (Selvaraju et al., 2017): with ``A`` the layer's output (``B x K x h x w``) and ``y`` the explained
score, the channel weights are ``w_k = mean_ij dy/dA_k(i, j)`` and the map is ``ReLU(sum_k w_k A_k)``, here
divided by its maximum per image (a map without positive evidence stays all zero).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def _first_tensor(output) -> Tensor:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    raise TypeError(f"the Grad-CAM layer must output a tensor (or a tuple starting with one), got {type(output)}")


def grad_cam(model: nn.Module, inputs: Tensor, *, layer: nn.Module, score_fn: Callable[[object], Tensor]) -> Tensor:
    """Grad-CAM maps of ``score_fn(model(inputs))`` at ``layer``, one per image.

    The model runs in eval mode (each module's own mode is restored afterwards), with gradients enabled even when
    the caller is under ``torch.no_grad()``; only the layer's output is differentiated (``torch.autograd.grad``),
    so no parameter's ``.grad`` changes, and the temporary forward hook is removed even when something fails.

    Args:
        model: the network; ``model(inputs)`` is its forward (for cxrdet's BaseModels: ``mode='tensor'``).
        inputs: the preprocessed batch ``B x C x H x W``.
        layer: a submodule of ``model`` whose output ``B x K x h x w`` is explained (e.g. ``model.cam_layer``).
        score_fn: maps the model's output to the explained score per image, a tensor ``[B]`` (e.g.
            ``lambda logits: logits[range(len(logits)), logits.argmax(1)]``).

    Returns:
        Float tensor ``B x h x w`` in [0, 1] (detached, on the inputs' device).

    Raises:
        ValueError: the layer did not run in the forward, its output is not ``B x K x h x w``, the score is not
            ``[B]``, or the score does not depend on the layer.
        TypeError: the layer's output is not a tensor.
    """
    captured: list[Tensor] = []

    def keep(_module: nn.Module, _args, output) -> None:
        captured.append(_first_tensor(output))

    modes = {m: m.training for m in model.modules()}
    handle = layer.register_forward_hook(keep)
    try:
        model.eval()
        with torch.enable_grad():
            x = inputs.detach().clone().requires_grad_(True)  # a graph exists even with frozen parameters
            output = model(x)
            if not captured:
                raise ValueError(f"the Grad-CAM layer {type(layer).__name__} did not run in the model's forward")
            activation = captured[-1]
            if activation.dim() != 4 or activation.shape[0] != inputs.shape[0]:
                raise ValueError(f"the Grad-CAM layer must output B x K x h x w, got {tuple(activation.shape)}")
            score = score_fn(output)
            if not isinstance(score, Tensor) or score.shape != (inputs.shape[0],):
                shape = tuple(score.shape) if isinstance(score, Tensor) else type(score)
                raise ValueError(f"score_fn must return one score per image, shape ({inputs.shape[0]},), got {shape}")
            (grads,) = torch.autograd.grad(score.sum(), activation, allow_unused=True)
        if grads is None:
            raise ValueError("the explained score does not depend on the Grad-CAM layer's output")
    finally:
        handle.remove()
        for module, training in modes.items():
            module.training = training
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activation.detach()).sum(dim=1))
    peak = cam.flatten(1).amax(dim=1).clamp_min(torch.finfo(cam.dtype).tiny)
    return (cam / peak[:, None, None]).detach()


def cbam_maps(model: nn.Module) -> list[Tensor]:
    """The spatial attention maps (``B x 1 x H x W``) that every CBAM-like module kept from the last forward.

    A module counts when it has the attribute ``last_spatial_attention``; modules that have not run yet (the
    attribute is None) are left out. Order: ``model.modules()`` (depth first, as registered).
    """
    maps = []
    for module in model.modules():
        value = getattr(module, "last_spatial_attention", None)
        if isinstance(value, Tensor):
            maps.append(value.detach())
    return maps
