"""The compute device (CUDA, then Apple's MPS, then the CPU, unless the user names one) and
how many CPU threads torch may use."""

from __future__ import annotations

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """Return the requested device, or the fastest available one for "auto"."""
    if requested != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} asked for, but CUDA is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cap_threads(threads: int | None) -> None:
    """Cap torch's intra-op threads for this process (None leaves torch's default, one per
    core): several workers on one host, each with a thread per core, would oversubscribe it."""
    if threads is not None:
        torch.set_num_threads(threads)
