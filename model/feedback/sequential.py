"""Sequential reverse filter: the specification every other kernel is tested against."""

from __future__ import annotations

import torch
from torch import Tensor


def reverse_filter_sequential(e: Tensor, lam: Tensor, tail: Tensor | None = None) -> Tensor:
    """Run the reverse-time diagonal filter one step at a time.

    Shapes:
        e:    (B, T, D)  local errors, any strides
        lam:  (D,)       per-unit decay, |λ_i| < 1
        tail: (B, D)     δ_{T+1}; zeros when None
        out:  (B, T, D)  δ, with the strides of ``e`` where it is dense

    Recurrence:
        δ_t = e_t + λ ⊙ δ_{t+1},   δ_{T+1} = tail.
    """
    # empty_like keeps the strides of a dense e, so for time-major input (a transposed
    # (T, B, D) buffer) every per-step slice below is contiguous.
    out = torch.empty_like(e)
    if e.shape[1] == 0:
        return out
    # unbind builds all per-step views in one call instead of indexing inside the loop.
    e_t = e.unbind(1)
    out_t = out.unbind(1)
    last = len(e_t) - 1
    if tail is None:
        out_t[last].copy_(e_t[last])
    else:
        torch.addcmul(e_t[last], lam, tail, out=out_t[last])
    for t in range(last - 1, -1, -1):
        torch.addcmul(e_t[t], lam, out_t[t + 1], out=out_t[t])
    return out
