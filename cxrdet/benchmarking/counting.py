"""Benchmarking, counting: parameters and multiply-adds of a model at an input, in both GFLOPs conventions.

The multiply-adds come from mmengine's ``FlopAnalyzer`` (the counter behind ``get_model_complexity_info``,
which mmdet's ``tools/analysis_tools/get_flops.py`` prints): a convolution, linear layer or matrix product
counts one per multiply-add, element-wise operations (activations, additions) count nothing. The two tools
report GFLOPs differently:

* mmdet (``get_flops.py``): one multiply-add = one FLOP, so ``GFLOPs = multiply-adds / 1e9``;
* Ultralytics (``model.info()``, the YOLOv5 tables): ``GFLOPs = 2 x multiply-adds / 1e9`` (THOP's
  multiply-accumulates times 2, at a square input of the model's size).

:class:`Complexity` keeps the raw count and gives both; a table states which one it prints
(:data:`MMDET_CONVENTION`, :data:`ULTRALYTICS_CONVENTION`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MMDET_CONVENTION = "mmdet get_flops.py: 1 multiply-add = 1 FLOP"
ULTRALYTICS_CONVENTION = "Ultralytics model.info(): 1 multiply-add = 2 FLOPs"


def count_parameters(model: Any, trainable_only: bool = False) -> int:
    """Number of parameter elements of ``model`` (a ``torch.nn.Module``), each shared tensor counted once.

    Args:
        model: the module.
        trainable_only: count only parameters with ``requires_grad`` (Ultralytics' "gradients").
    """
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def mmdet_to_ultralytics_gflops(gflops: float) -> float:
    """mmdet's GFLOPs (multiply-adds) -> Ultralytics' GFLOPs (2 x multiply-adds)."""
    return 2.0 * gflops


def ultralytics_to_mmdet_gflops(gflops: float) -> float:
    """Ultralytics' GFLOPs (2 x multiply-adds) -> mmdet's GFLOPs (multiply-adds)."""
    return gflops / 2.0


@dataclass(frozen=True)
class Complexity:
    """Size and compute of a model at one input.

    Attributes:
        params: parameter elements (:func:`count_parameters`).
        macs: multiply-adds of one forward pass at ``input_shape``.
        input_shape: the shape of the (first) input tensor, e.g. ``(1, 3, 1024, 1024)``.
        unsupported: operators the counter skipped and how often (element-wise ones, counted as 0 by both tools).
    """

    params: int
    macs: int
    input_shape: tuple[int, ...]
    unsupported: tuple[tuple[str, int], ...] = ()

    @property
    def gflops_mmdet(self) -> float:
        """GFLOPs as mmdet's ``get_flops.py`` prints them (multiply-adds / 1e9)."""
        return self.macs / 1e9

    @property
    def gflops_ultralytics(self) -> float:
        """GFLOPs as Ultralytics' ``model.info()`` prints them (2 x multiply-adds / 1e9)."""
        return mmdet_to_ultralytics_gflops(self.gflops_mmdet)

    def gflops(self, convention: str = "mmdet") -> float:
        """GFLOPs in ``convention``: ``'mmdet'`` or ``'ultralytics'``.

        Raises:
            ValueError: an unknown convention.
        """
        if convention == "mmdet":
            return self.gflops_mmdet
        if convention == "ultralytics":
            return self.gflops_ultralytics
        raise ValueError(f"unknown GFLOPs convention {convention!r} (use 'mmdet' or 'ultralytics')")


def _wrapped(model: Any, forward: Callable[..., Any]) -> Any:
    """``model`` behind a module whose ``forward(*inputs)`` is ``forward(model, *inputs)`` (what the counter traces)."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return forward(self.model, *inputs)

    return Wrapped()


def count_complexity(
    model: Any,
    inputs: Any,
    forward: Callable[..., Any] | None = None,
) -> Complexity:
    """Parameters and multiply-adds of ``model`` for one call on ``inputs`` (traced with ``torch.jit``).

    Args:
        model: a ``torch.nn.Module`` (its mode is kept: call ``.eval()`` first for inference figures).
        inputs: a tensor or a tuple of tensors passed positionally.
        forward: ``forward(model, *inputs)`` when the model is not called as ``model(*inputs)`` (e.g. an
            mmdet detector: ``model(inputs, data_samples, mode='tensor')``, as ``get_flops.py`` does).

    Returns:
        The :class:`Complexity`; the input shape is that of the first tensor.
    """
    import torch
    from mmengine.analysis import FlopAnalyzer

    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    traced = model if forward is None else _wrapped(model, forward)
    analyzer = FlopAnalyzer(traced, inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings("none")
    quiet = logging.getLogger("mmengine")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with torch.no_grad():
            macs = int(analyzer.total())
            unsupported = tuple(sorted(analyzer.unsupported_ops().items()))
    finally:
        quiet.setLevel(level)
    first = next((x for x in inputs if isinstance(x, torch.Tensor)), None)
    shape = tuple(first.shape) if first is not None else ()
    return Complexity(params=count_parameters(model), macs=macs, input_shape=shape, unsupported=unsupported)
