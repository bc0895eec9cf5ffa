"""LateZeroGradOptimWrapper against mmengine's OptimWrapper (the reference): the same parameters after the same
updates, with gradient accumulation and with parameters that get no gradient in some steps; built by name in the
``cxrdet`` scope as the configs do."""

from __future__ import annotations

import copy

import pytest
import torch
from mmengine.optim import OptimWrapper
from torch import nn


class TwoBranches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, use_b: bool) -> torch.Tensor:
        y = self.a(x)
        return y + self.b(x) if use_b else y


def _train(wrapper_type, accumulate: int, optimizer: str) -> tuple[nn.Module, list[bool]]:
    torch.manual_seed(0)
    model = TwoBranches()
    opt = getattr(torch.optim, optimizer)(model.parameters(), lr=0.05, weight_decay=0.01)
    wrapper = wrapper_type(opt, accumulative_counts=accumulate)
    wrapper.initialize_count_status(model, 0, 12)
    data = torch.Generator().manual_seed(1)
    b_had_grad = []
    for step in range(12):
        x = torch.randn(5, 4, generator=data)
        loss = (model(x, use_b=step % 3 != 1) ** 2).mean()
        wrapper.update_params(loss)
        b_had_grad.append(model.b.weight.grad is not None)
    return model, b_had_grad


@pytest.mark.parametrize("accumulate", [1, 2])
@pytest.mark.parametrize("optimizer", ["Adam", "SGD"])
def test_same_parameters_as_mmengine_optim_wrapper(accumulate, optimizer):
    from cxrdet.engines.runner.late_zero_grad import LateZeroGradOptimWrapper

    reference, _ = _train(OptimWrapper, accumulate, optimizer)
    late, b_had_grad = _train(LateZeroGradOptimWrapper, accumulate, optimizer)
    for (name, p), q in zip(reference.named_parameters(), late.parameters()):
        torch.testing.assert_close(q, p, rtol=0, atol=1e-7, msg=name)
    assert any(b_had_grad)  # the stepped gradients stay in place until the next update frees them


def test_a_parameter_without_gradient_is_skipped_not_decayed():
    """Adam with weight decay moves a parameter whose gradient is zero; one whose gradient is None stays."""
    from cxrdet.engines.runner.late_zero_grad import LateZeroGradOptimWrapper

    torch.manual_seed(0)
    model = TwoBranches()
    wrapper = LateZeroGradOptimWrapper(torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.5))
    wrapper.update_params((model(torch.randn(2, 4), use_b=True) ** 2).mean())  # b gets Adam state
    before = copy.deepcopy(model.b.state_dict())
    wrapper.update_params((model(torch.randn(2, 4), use_b=False) ** 2).mean())  # b: no gradient this step
    for key, value in model.b.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0, msg=key)


def test_built_by_name_in_the_cxrdet_scope():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from cxrdet.engines.runner.late_zero_grad import LateZeroGradOptimWrapper

    with DefaultScope.overwrite_default_scope("cxrdet"):
        wrapper = build_optim_wrapper(
            nn.Linear(2, 2), dict(type="LateZeroGradOptimWrapper", optimizer=dict(type="Adam", lr=1e-3))
        )
    assert isinstance(wrapper, LateZeroGradOptimWrapper)
