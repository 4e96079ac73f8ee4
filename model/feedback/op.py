"""The DSF feedback op: identity forward, reverse-time diagonal filter backward."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from model.feedback.dispatch import KernelName, reverse_filter, validate


class StateFeedback(torch.autograd.Function):
    """Identity on h; turns the incoming local errors e into DSF gradients δ.

    Shapes: h (B, T, D), lam (D,). Backward: δ_t = e_t + λ ⊙ δ_{t+1}, δ_{T+1} = 0.
    """

    @staticmethod
    def forward(ctx: Any, h: Tensor, lam: Tensor, kernel: KernelName) -> Tensor:
        ctx.save_for_backward(lam)
        ctx.kernel = kernel
        # A view, not a copy: the forward pass must cost nothing.
        return h.view_as(h)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, None]:
        (lam,) = ctx.saved_tensors
        # λ is a fixed hyper-parameter of the approximation, never trained through here.
        delta = reverse_filter(grad, lam, kernel=ctx.kernel) if ctx.needs_input_grad[0] else None
        return delta, None, None


def state_feedback(h: Tensor, lam: Tensor, kernel: KernelName = "auto") -> Tensor:
    """Identity in the forward pass; the DSF filter on the gradient in the backward pass.

    Shapes:
        h:   (B, T, D)  states recomputed in parallel from detached predecessors
        lam: (D,)       per-unit decay, |λ_i| < 1
        out: (B, T, D)  h itself (a view)

    Backward recurrence:
        δ_t = e_t + λ ⊙ δ_{t+1},   δ_{T+1} = 0.
    """
    # Fail in the forward pass, where the caller's stack trace still points at the bug.
    validate(h, lam)
    return StateFeedback.apply(h, lam.detach(), kernel)
