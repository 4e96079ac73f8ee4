"""Reverse filter as an FFT correlation with the kernel (1, λ, λ², …)."""

from __future__ import annotations

import torch
from torch import Tensor


def lam_powers(lam: Tensor, n: int) -> Tensor:
    """λ^k for k = 0..n-1, shape (n, D), exact in sign for negative λ.

    sign · |λ|^k with integer exponents: exp(k·log λ) is undefined for λ < 0 and loses
    precision for λ near ±1.
    """
    k = torch.arange(n, device=lam.device, dtype=lam.dtype)[:, None]  # (n, 1)
    magnitude = torch.pow(lam.abs(), k)  # (n, D)
    odd = torch.remainder(torch.arange(n, device=lam.device), 2).bool()[:, None]  # (n, 1)
    return torch.where(odd & (lam < 0), -magnitude, magnitude)


def reverse_filter_fft(e: Tensor, lam: Tensor, tail: Tensor | None = None) -> Tensor:
    """Reverse-time diagonal filter by FFT, O(B·T·D·log T).

    Shapes:
        e:    (B, T, D)  local errors
        lam:  (D,)       per-unit decay, |λ_i| < 1
        tail: (B, D)     δ_{T+1}; zeros when None
        out:  (B, T, D)  δ

    Recurrence:
        δ_t = e_t + λ ⊙ δ_{t+1},   δ_{T+1} = tail,
    computed as the correlation δ_t = Σ_{j=0}^{T-1-t} λ^j e_{t+j}.
    """
    n_steps = e.shape[1]
    if n_steps == 0:
        return torch.empty_like(e)
    if tail is not None:
        # δ_{T+1} enters only through δ_T, so fold it into the last error once.
        e = e.clone()
        e[:, -1].addcmul_(lam, tail)
    # t + j reaches 2T - 2; a length ≥ 2T - 1 keeps the circular correlation from wrapping.
    n_fft = 1 << (2 * n_steps - 2).bit_length()
    kernel = lam_powers(lam, n_steps)  # (T, D)
    spec_e = torch.fft.rfft(e, n=n_fft, dim=1)  # (B, F, D)
    spec_k = torch.fft.rfft(kernel, n=n_fft, dim=0)  # (F, D)
    # Correlation, not convolution: conj of the real kernel's spectrum looks forward in time.
    out = torch.fft.irfft(spec_e * spec_k.conj(), n=n_fft, dim=1)  # (B, n_fft, D)
    return out[:, :n_steps].contiguous()
