"""DSF feedback: an identity op whose backward runs the reverse-time diagonal filter

    δ_t = e_t + λ ⊙ δ_{t+1},   δ_{T+1} = tail (zeros by default),

on tensors of shape (B, T, D) with a per-unit λ of shape (D,), |λ_i| < 1. The sequential kernel
is the specification; scan, fft and chunked compute the same δ in parallel over time.
"""

from model.feedback.dispatch import KERNELS, KernelName, reverse_filter
from model.feedback.op import StateFeedback, state_feedback

__all__ = ["KERNELS", "KernelName", "StateFeedback", "reverse_filter", "state_feedback"]
