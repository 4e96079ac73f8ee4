"""Kernel registry, input validation and the automatic kernel choice.

Why ``kernel="auto"`` picks what it does. Medians in ms, float32, 2-core CPU, torch 2.13,
2 intra-op threads, machine otherwise idle (``python bench/feedback.py``):

    B   D     T   sequential    scan     fft   chunked(C=64)
    32  64   128      0.28      0.74    2.42     2.16
    32  64   512      1.34      2.91    8.86     3.68
    32  64  2048      6.76     14.24   61.29    19.46
    32  64  4096     27.86     33.16  136.38    61.53
    32  256  128      0.53      0.66    3.77     8.38
    32  256  512      2.62     13.49   66.29    30.29
    32  256 2048     38.77     68.32  273.77   191.05
    32  256 4096     78.53    142.54  548.64   307.05
    1   8   4096      9.48      0.23    0.78     --
    32  16  4096     11.01      2.16   20.94     4.80   (last two rows: one other job running)

On a CPU one step of the loop costs about 2 µs of dispatch plus B·D multiply-adds, and it reads
and writes each element once; scan makes log2 T passes, fft and chunked several times more
work. So the loop wins unless a step holds so few elements (B·D ≤ 512) that dispatch dominates;
then scan's few passes win (40x at B·D = 8). The loop also runs single-threaded, so it does not
fall off the cliff the threaded kernels hit when other processes share the two cores
(chunked and fft went to ~1 s per call in that state).

CUDA could not be measured here (no GPU); the choice is by reasoning: each loop step is a kernel
launch (~5 µs) that does almost no work, so past a few steps the log-depth scan, with about
2·log2 T launches of bandwidth-bound element-wise work, should win; fft costs more passes and
float32 accuracy, chunked a T/C-step launch loop. Re-measure with ``--device cuda``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch import Tensor

from model.feedback.chunked import reverse_filter_chunked
from model.feedback.fft import reverse_filter_fft
from model.feedback.scan import reverse_filter_scan
from model.feedback.sequential import reverse_filter_sequential

KernelName = Literal["auto", "sequential", "scan", "fft", "chunked"]
Kernel = Callable[[Tensor, Tensor, Tensor | None], Tensor]

KERNELS: dict[str, Kernel] = {
    "sequential": reverse_filter_sequential,
    "scan": reverse_filter_scan,
    "fft": reverse_filter_fft,
    "chunked": reverse_filter_chunked,
}

_FLOAT_DTYPES = (torch.float32, torch.float64)
# Thresholds of choose_kernel, from the figures in the module docstring.
_CPU_MAX_SCAN_STEP_SIZE = 512  # B·D at or below which a loop step is mostly dispatch overhead
_CPU_MIN_SCAN_T = 64
_CUDA_MAX_SEQUENTIAL_T = 16


def validate(e: Tensor, lam: Tensor, tail: Tensor | None = None) -> None:
    """Raise ValueError naming the first problem with the filter's inputs.

    Shapes: e (B, T, D), lam (D,), tail (B, D) or None.
    """
    if e.dim() != 3:
        raise ValueError(f"e must be 3-D (B, T, D), got shape {tuple(e.shape)}")
    batch, _, dim = e.shape
    if e.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"e must be float32 or float64, got dtype {e.dtype}")
    if lam.shape != (dim,):
        raise ValueError(f"lam must have shape (D,) = ({dim},), got {tuple(lam.shape)}")
    if lam.dtype != e.dtype:
        raise ValueError(f"lam dtype {lam.dtype} differs from e dtype {e.dtype}")
    if lam.device != e.device:
        raise ValueError(f"lam is on device {lam.device} but e is on {e.device}")
    if tail is not None:
        if tail.shape != (batch, dim):
            raise ValueError(
                f"tail must have shape (B, D) = ({batch}, {dim}), got {tuple(tail.shape)}"
            )
        if tail.dtype != e.dtype:
            raise ValueError(f"tail dtype {tail.dtype} differs from e dtype {e.dtype}")
        if tail.device != e.device:
            raise ValueError(f"tail is on device {tail.device} but e is on {e.device}")
    # One host sync on CUDA; a λ outside (-1, 1) would make the filter blow up silently.
    if not bool((lam.abs() < 1).all()):
        raise ValueError("lam must lie strictly inside (-1, 1) (and not be NaN)")


def choose_kernel(e: Tensor) -> str:
    """The kernel ``"auto"`` resolves to for e of shape (B, T, D); see the module docstring."""
    batch, n_steps, dim = e.shape
    if e.device.type == "cuda":
        return "scan" if n_steps > _CUDA_MAX_SEQUENTIAL_T else "sequential"
    if batch * dim <= _CPU_MAX_SCAN_STEP_SIZE and n_steps >= _CPU_MIN_SCAN_T:
        return "scan"
    return "sequential"


def reverse_filter(
    e: Tensor, lam: Tensor, tail: Tensor | None = None, *, kernel: KernelName = "auto"
) -> Tensor:
    """Reverse-time diagonal filter with input checks and a kernel choice.

    Shapes:
        e:    (B, T, D)  local errors
        lam:  (D,)       per-unit decay, |λ_i| < 1
        tail: (B, D)     δ_{T+1}; zeros when None
        out:  (B, T, D)  δ

    Recurrence:
        δ_t = e_t + λ ⊙ δ_{t+1},   δ_{T+1} = tail.
    """
    if kernel != "auto" and kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {get_args(KernelName)}, got {kernel!r}")
    validate(e, lam, tail)
    name = choose_kernel(e) if kernel == "auto" else kernel
    return KERNELS[name](e, lam, tail)
