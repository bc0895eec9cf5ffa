"""Training step, optimiser side: ``LateZeroGradOptimWrapper``, mmengine's ``OptimWrapper`` with the plain loop's
memory behaviour (registered in cxrdet's ``OPTIM_WRAPPERS``; the custom-model configs use it).

mmengine's ``update_params`` runs backward -> step -> ``zero_grad()``, which frees every gradient right after the
step; the next forward takes that memory for activations, and the next backward allocates all gradients anew. On
CPU, glibc hands large freed blocks back to the kernel, so each iteration page-faults its gradients in again:
measured on EfficientNet-B5 (28 M parameters, 128 px, batch 2, 2 cores), that order is 1.23x slower than the
hand-written ``zero_grad()`` -> backward -> step, with twice the system time (``benchmarks/models.py``; the
``paired`` column). This wrapper frees the previous step's gradients at the START of the next update, just before
its backward, which then reuses their memory. What the optimiser sees is unchanged: gradients accumulate over
``accumulative_counts`` iterations as before, each step uses only gradients from backward passes since the
previous step, and a parameter without a gradient in a step is still skipped (``None`` gradients, not zeros).
Between a step and the next update ``param.grad`` still holds the stepped gradient.
"""

from __future__ import annotations

import torch
from mmengine.optim import OptimWrapper

from cxrdet.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class LateZeroGradOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose update frees the previous step's gradients just before its backward (module docstring).

    Args and attributes: as mmengine's ``OptimWrapper``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stepped = False

    def update_params(
        self, loss: torch.Tensor, step_kwargs: dict | None = None, zero_kwargs: dict | None = None
    ) -> None:
        """Frees the gradients of the last step (if one came since), backward, then a step when it is due."""
        loss = self.scale_loss(loss)
        if self._stepped:
            self.zero_grad(**(zero_kwargs or {}))
            self._stepped = False
        self.backward(loss)
        if self.should_update():
            self.step(**(step_kwargs or {}))
            self._stepped = True
