"""A stack of GRU layers that trains in any mode of `model.modes`.

Shapes are time-major: T steps, B batch rows, F input features, D hidden units. Each layer is a
one-layer `nn.GRU` (the parameter container, and the fused kernel for `bptt` and inference) plus
its feedback coefficients λ (a buffer: fixed, or adapted by `dsf-adaptive`, never trained).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from model.dsf_gru import DSFGRUFunction, DSFOptions, JacobianProbe
from model.modes import TrainingMode


def default_feedback(hidden: int, tau_min: float, tau_max: float) -> Tensor:
    """λ_i = 1 - 1/τ_i with time constants τ_i spread log-uniformly over [tau_min, tau_max].

    method.md §4: units then cover every memory length from one step to the training window,
    so some unit credits each lag the data needs. τ = 1 gives λ = 0 (no temporal credit).
    """
    if not 1.0 <= tau_min <= tau_max:
        raise ValueError(f"need 1 <= tau_min <= tau_max, got {tau_min} and {tau_max}")
    if hidden == 1:
        return torch.tensor([1.0 - 1.0 / tau_max])
    log_tau = torch.linspace(math.log(tau_min), math.log(tau_max), hidden, dtype=torch.float64)
    return (1.0 - torch.exp(-log_tau)).float()


class RecurrentStack(nn.Module):
    """Stacked GRU layers with dropout between them and per-layer DSF coefficients."""

    def __init__(
        self,
        input_size: int,
        hidden: int,
        layers: int,
        dropout: float,
        tau_range: tuple[float, float],
    ) -> None:
        super().__init__()
        sizes = [input_size] + [hidden] * (layers - 1)
        self.grus = nn.ModuleList(nn.GRU(size, hidden) for size in sizes)
        self.dropout = nn.Dropout(dropout)
        lam = default_feedback(hidden, *tau_range)
        for index, gru in enumerate(self.grus):
            self.register_buffer(f"lam_{index}", lam.clone())
            _chrono_update_gate(gru, lam)
        self.probes: list[JacobianProbe] | None = None
        # Dropout masks from this generator when set (see `drop`); the global one otherwise.
        self.generator: torch.Generator | None = None

    def feedback(self, index: int) -> Tensor:
        """λ of layer `index`, shape (D,)."""
        return getattr(self, f"lam_{index}")

    def forward(self, x: Tensor, mode: TrainingMode) -> Tensor:
        """x (T, B, F) -> top layer states (T, B, D); the mode only matters when training."""
        for index, gru in enumerate(self.grus):
            if index:
                x = self.drop(x)
            x = self._run_layer(index, gru, x, mode)
        return x

    def _run_layer(self, index: int, gru: nn.GRU, x: Tensor, mode: TrainingMode) -> Tensor:
        h0 = x.new_zeros(x.shape[1], gru.hidden_size)
        if not (self.training and torch.is_grad_enabled()) or mode.name == "bptt":
            return gru(x, h0[None])[0]
        if mode.name == "tbptt":
            return _truncated(gru, x, h0, mode.truncation or 1)
        lam = self.feedback(index)
        if mode.name == "ft-bptt":
            lam = torch.zeros_like(lam)
        options = DSFOptions.for_device(x.device, x.shape[1], gru.hidden_size)
        probe = self.probes[index] if self.probes is not None else None
        weights = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
        return DSFGRUFunction.apply(x, *weights, h0, lam.to(x.dtype), options, probe)

    def drop(self, x: Tensor) -> Tensor:
        """Dropout whose masks come from `generator` when one is set: candidates trained in
        parallel threads then draw their own masks, and every run repeats exactly, instead of
        depending on which thread reached the global generator first."""
        p = self.dropout.p
        if self.generator is None or not self.training or p == 0.0:
            return self.dropout(x)
        keep = torch.empty_like(x).bernoulli_(1.0 - p, generator=self.generator)
        return x * keep / (1.0 - p)

    def start_probing(self) -> None:
        """Make the next DSF backward passes accumulate the Jacobian diagonal of each layer."""
        self.probes = [
            JacobianProbe(self.feedback(i).new_zeros(self.feedback(i).shape))
            for i in range(len(self.grus))
        ]

    def adapt_feedback(self, momentum: float, lam_max: float) -> None:
        """Move each λ towards the probed Jacobian diagonal (method.md §4), then probe afresh.

        The mean diagonal is clamped into [0, lam_max]: negative or near-unit estimates would
        make the filter oscillate or keep credit forever on the strength of a noisy average.
        """
        if self.probes is None:
            return
        with torch.no_grad():
            for index, probe in enumerate(self.probes):
                if probe.count == 0:
                    continue
                target = probe.mean().clamp(0.0, lam_max)
                self.feedback(index).mul_(momentum).add_((1.0 - momentum) * target)
                probe.reset()


def _chrono_update_gate(gru: nn.GRU, lam: Tensor) -> None:
    """Set the update-gate biases so that unit i starts with z_i = λ_i ("chrono" initialisation).

    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}, so ∂h_t/∂h_{t-1} ≈ z on the diagonal: with z = λ the
    network's own time constants are the ones DSF assumes, and the stationary filter is close to
    the true backward recursion (method.md §2). With default biases every z starts near 0.5 and
    fixed λ up to 1 - 1/256 credit far more than the network remembers; measured on the
    delayed-copy task at initialisation, cosine to the exact gradient went from 0.5-0.6 (below
    FT-BPTT) to 0.99 (above it). Tallec & Ollivier (2018) give the same initialisation for
    learning long dependencies at all. z = 0 cannot be reached, so logits are floored.
    """
    hidden = gru.hidden_size
    logit = torch.log((lam / (1.0 - lam)).clamp_min(0.05))
    with torch.no_grad():
        gru.bias_ih_l0[hidden : 2 * hidden] = logit
        gru.bias_hh_l0[hidden : 2 * hidden] = 0.0


def _truncated(gru: nn.GRU, x: Tensor, h0: Tensor, window: int) -> Tensor:
    """Fused GRU over windows of `window` steps; the state crosses windows without a gradient."""
    outputs = []
    state = h0[None]
    for start in range(0, x.shape[0], window):
        out, state = gru(x[start : start + window], state.detach())
        outputs.append(out)
    return torch.cat(outputs)
