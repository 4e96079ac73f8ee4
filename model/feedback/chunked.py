"""Chunked reverse filter: a triangular matmul inside each chunk, a carry between chunks."""

from __future__ import annotations

import torch
from torch import Tensor

from model.feedback.fft import lam_powers

# 16-32 measured fastest on a 2-core CPU; the (D, C, C) matmul work grows with C.
DEFAULT_CHUNK = 32


def reverse_filter_chunked(
    e: Tensor, lam: Tensor, tail: Tensor | None = None, *, chunk: int = DEFAULT_CHUNK
) -> Tensor:
    """Reverse-time diagonal filter in chunks of ``chunk`` steps.

    Shapes:
        e:    (B, T, D)  local errors
        lam:  (D,)       per-unit decay, |λ_i| < 1
        tail: (B, D)     δ_{T+1}; zeros when None
        out:  (B, T, D)  δ

    Recurrence:
        δ_t = e_t + λ ⊙ δ_{t+1},   δ_{T+1} = tail.

    Inside a chunk, δ_{s+i} = Σ_{j≥i} λ^(j-i) e_{s+j} + λ^(C-i) δ_{s+C}: one batched
    (D, C, C) matmul for all chunks at once, then a loop over the T/C chunk carries.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of steps, got {chunk}")
    batch, n_steps, dim = e.shape
    if n_steps == 0:
        return torch.empty_like(e)
    chunk = min(chunk, n_steps)
    n_chunks = -(-n_steps // chunk)
    pad = n_chunks * chunk - n_steps
    # Pad at the start of time: δ only looks forward, so leading zeros change nothing.
    if pad:
        e = torch.nn.functional.pad(e, (0, 0, pad, 0))
    blocks = e.reshape(batch, n_chunks, chunk, dim)  # (B, N, C, D)

    powers = lam_powers(lam, chunk + 1)  # (C+1, D): λ^0 .. λ^C
    offset = torch.arange(chunk, device=e.device)
    gap = offset[None, :] - offset[:, None]  # (C, C): j - i
    # M[d, i, j] = λ_d^(j-i) for j ≥ i, else 0.
    mat = powers[gap.clamp(min=0)].permute(2, 0, 1) * (gap >= 0)  # (D, C, C)
    local = torch.einsum("dij,bnjd->bnid", mat, blocks)  # (B, N, C, D)

    # carry[:, n] = δ at the first step after chunk n.
    carry = torch.empty(batch, n_chunks, dim, dtype=e.dtype, device=e.device)  # (B, N, D)
    carry[:, -1] = 0 if tail is None else tail
    decay = powers[chunk]  # λ^C
    for n in range(n_chunks - 1, 0, -1):
        torch.addcmul(local[:, n, 0], decay, carry[:, n], out=carry[:, n - 1])
    into_chunk = powers.flip(0)[:chunk]  # (C, D): λ^(C-i)
    out = local + into_chunk * carry[:, :, None, :]  # (B, N, C, D)
    return out.reshape(batch, n_chunks * chunk, dim)[:, pad:]  # (B, T, D)
