"""Log-depth reverse scan (Hillis–Steele doubling)."""

from __future__ import annotations

import torch
from torch import Tensor


def reverse_filter_scan(e: Tensor, lam: Tensor, tail: Tensor | None = None) -> Tensor:
    """Reverse-time diagonal filter in ceil(log2 T) element-wise passes.

    Shapes:
        e:    (B, T, D)  local errors
        lam:  (D,)       per-unit decay, |λ_i| < 1
        tail: (B, D)     δ_{T+1}; zeros when None
        out:  (B, T, D)  δ

    Recurrence:
        δ_t = e_t + λ ⊙ δ_{t+1},   δ_{T+1} = tail.

    After the pass with stride s, x_t holds Σ_{j<2s} λ^j e_{t+j}; O(B·T·D·log T) work.
    """
    x = e.clone()
    n_steps = e.shape[1]
    if tail is not None and n_steps > 0:
        # δ_{T+1} enters only through δ_T, so fold it into the last error once.
        x[:, -1].addcmul_(lam, tail)
    # Two buffers: a pass reads x_{t+s} while writing x_t, and in-place would alias.
    y = torch.empty_like(x)
    power = lam  # λ^s for the current stride s
    stride = 1
    while stride < n_steps:
        keep = n_steps - stride
        y[:, keep:].copy_(x[:, keep:])
        torch.addcmul(x[:, :keep], power, x[:, stride:], out=y[:, :keep])
        x, y = y, x
        power = power * power
        stride *= 2
    return x
