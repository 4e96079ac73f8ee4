"""Gradient fidelity: how close each training mode's gradient is to the exact BPTT gradient.

method.md §5 asks for the cosine similarity between the gradient a mode produces and the exact
gradient, per parameter tensor and overall, with DSF expected well above FT-BPTT. This module
measures it for one network and one batch: every mode sees the identical weights, the identical
batch, the identical loss and, when dropout is on, the identical dropout masks, so the only
difference left is how the backward pass carries credit through time.

It also generates the delayed-copy task, a series that can only be forecast with memory: the
target at t is a noise input seen `delay` steps earlier. FT-BPTT gives no credit across steps, so
it cannot see why the network should remember; how much of that credit each mode recovers is
what the cosine measures.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from model.modes import TrainingMode
from model.network import ForecastNetwork, NetworkConfig
from model.trainer import batch_loss
from model.windows import Batch

EXACT_MODE = "bptt"


@dataclass(frozen=True)
class AdaptiveProbe:
    """How `dsf-adaptive` gets its λ before its gradient is measured.

    In training, λ moves towards the probed Jacobian diagonal by `λ ← m·λ + (1-m)·target` every
    few steps. Here the weights are frozen, so the target is the same at every pass and λ
    approaches it geometrically: after `passes` passes the default λ keeps a weight m^passes
    (0.5^8 ≈ 0.4 %), i.e. we measure the λ that dsf-adaptive settles on at these weights.
    """

    passes: int = 8
    momentum: float = 0.5
    lam_max: float = 0.99

    def __post_init__(self) -> None:
        if self.passes < 1 or not 0.0 <= self.momentum < 1.0 or not 0.0 < self.lam_max < 1.0:
            raise ValueError("need passes >= 1, momentum in [0, 1) and lam_max in (0, 1)")


@dataclass(frozen=True)
class ModeFidelity:
    """One mode against the exact gradient.

    `overall` flattens every parameter together; `recurrent` only the GRU stack's, because the
    head's gradient reads the states alone, is the same in every mode and would dilute the
    difference. `norm_ratio` is |g_mode| / |g_exact| over all parameters: a cosine of 1 with the
    wrong size would still mislead a fixed learning rate.
    """

    mode: str
    overall: float
    recurrent: float
    norm_ratio: float
    per_tensor: tuple[tuple[str, float], ...]
    lam_mean: float | None = None

    def cosine(self, name: str) -> float:
        """The cosine of parameter tensor `name`."""
        return dict(self.per_tensor)[name]

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "overall": self.overall,
            "recurrent": self.recurrent,
            "norm_ratio": self.norm_ratio,
            "per_tensor": dict(self.per_tensor),
            "lam_mean": self.lam_mean,
        }


@dataclass(frozen=True)
class FidelityReport:
    """Cosine similarities of several modes' gradients to the exact (`bptt`) gradient."""

    parameters: tuple[str, ...]
    modes: tuple[ModeFidelity, ...]
    reference: str = EXACT_MODE

    def mode(self, name: str) -> ModeFidelity:
        """The result of mode `name` as it was given (e.g. "tbptt:8")."""
        for result in self.modes:
            if result.mode == name:
                return result
        raise KeyError(f"mode {name!r} was not measured; have {[m.mode for m in self.modes]}")

    def to_json(self) -> dict:
        return {
            "reference": self.reference,
            "parameters": list(self.parameters),
            "modes": [result.to_json() for result in self.modes],
        }

    def format_table(self) -> str:
        """Rows: parameter tensors, then the overall figures; columns: modes."""
        names = [m.mode for m in self.modes]
        first = max(len("parameter"), *(len(p) for p in self.parameters), len("norm ratio"))
        width = max(10, *(len(n) for n in names))

        def row(label: str, values: Sequence[float | None]) -> str:
            cells = ("-" if v is None else f"{v:.4f}" for v in values)
            return f"{label:<{first}}  " + "  ".join(f"{c:>{width}}" for c in cells)

        header = f"{'parameter':<{first}}  " + "  ".join(f"{n:>{width}}" for n in names)
        lines = [f"cosine to the exact ({self.reference}) gradient", header, "-" * len(header)]
        lines += [row(p, [m.cosine(p) for m in self.modes]) for p in self.parameters]
        lines.append("-" * len(header))
        lines.append(row("overall", [m.overall for m in self.modes]))
        lines.append(row("recurrent", [m.recurrent for m in self.modes]))
        lines.append(row("norm ratio", [m.norm_ratio for m in self.modes]))
        lines.append(row("mean λ", [m.lam_mean for m in self.modes]))
        return "\n".join(lines)


def cosine(a: Tensor, b: Tensor) -> float:
    """Cosine similarity of two tensors, flattened, in float64, clipped into [-1, 1].

    Two zero tensors count as identical (1) and one zero against a non-zero one as unrelated
    (0): a parameter no loss term reaches must not turn the report into NaN.
    """
    a, b = a.detach().double().flatten(), b.detach().double().flatten()
    norm = a.norm() * b.norm()
    if norm == 0:
        return 1.0 if a.norm() == b.norm() else 0.0
    return max(-1.0, min(1.0, float(a @ b / norm)))


def gradient_fidelity(
    network: ForecastNetwork,
    batch: Batch,
    modes: Sequence[str],
    *,
    loss_warmup: int = 0,
    seed: int = 0,
    adaptive: AdaptiveProbe | None = None,
) -> FidelityReport:
    """Cosine of each mode's gradient to the exact BPTT gradient, same weights and batch.

    The loss is the training loss (`model.trainer.batch_loss`, pinball over every step from
    `loss_warmup` on). Each gradient is taken in train mode, since modes only differ there, under
    the torch seed `seed`, so dropout draws the same masks in every mode. The network's weights
    and buffers are not changed: `dsf-adaptive` probes its λ on a copy (see `AdaptiveProbe`).
    """
    parsed = [TrainingMode.parse(text) for text in modes]
    adaptive = adaptive or AdaptiveProbe()
    was_training = network.training
    network.train()
    try:
        exact = _gradients(network, batch, TrainingMode(EXACT_MODE), loss_warmup, seed)
        results = tuple(
            _measure(network, batch, text, mode, exact, loss_warmup, seed, adaptive)
            for text, mode in zip(modes, parsed, strict=True)
        )
    finally:
        network.train(was_training)
    return FidelityReport(parameters=tuple(exact), modes=results)


def _measure(
    network: ForecastNetwork,
    batch: Batch,
    text: str,
    mode: TrainingMode,
    exact: dict[str, Tensor],
    loss_warmup: int,
    seed: int,
    adaptive: AdaptiveProbe,
) -> ModeFidelity:
    lam_mean = None
    if mode.name == "dsf-adaptive":
        network = _adapted_copy(network, batch, loss_warmup, seed, adaptive)
    if mode.name in ("dsf", "dsf-adaptive"):
        lam_mean = float(torch.cat([network.stack.feedback(i) for i in _layers(network)]).mean())
    elif mode.name == "ft-bptt":
        lam_mean = 0.0
    grads = _gradients(network, batch, mode, loss_warmup, seed)
    recurrent = [name for name in exact if name.startswith("stack.")]
    return ModeFidelity(
        mode=text.strip(),
        overall=cosine(_flat(grads, exact), _flat(exact, exact)),
        recurrent=cosine(_flat(grads, recurrent), _flat(exact, recurrent)),
        norm_ratio=_ratio(_flat(grads, exact).norm(), _flat(exact, exact).norm()),
        per_tensor=tuple((name, cosine(grads[name], exact[name])) for name in exact),
        lam_mean=lam_mean,
    )


def _adapted_copy(
    network: ForecastNetwork, batch: Batch, loss_warmup: int, seed: int, probe: AdaptiveProbe
) -> ForecastNetwork:
    """A copy with λ moved to the probed Jacobian diagonal; the weights stay the original's.

    A copy, because probing writes λ buffers and gradients; no optimiser step runs, so the
    copy's weights equal the original's when its gradient is measured.
    """
    twin = copy.deepcopy(network)
    mode = TrainingMode("dsf-adaptive")
    twin.stack.start_probing()
    for _ in range(probe.passes):
        _gradients(twin, batch, mode, loss_warmup, seed)
        twin.stack.adapt_feedback(probe.momentum, probe.lam_max)
    # Without probes the next backward measures the gradient only, like any other mode.
    twin.stack.probes = None
    return twin


def _gradients(
    network: ForecastNetwork, batch: Batch, mode: TrainingMode, loss_warmup: int, seed: int
) -> dict[str, Tensor]:
    """Gradient of the training loss per named parameter, under a fixed torch seed."""
    quantiles = torch.tensor(
        network.config.quantiles, dtype=batch.target.dtype, device=batch.target.device
    )
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(seed)
        network.zero_grad(set_to_none=True)
        batch_loss(network, batch, mode, loss_warmup, quantiles).backward()
    grads = {
        name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
        for name, p in network.named_parameters()
    }
    network.zero_grad(set_to_none=True)
    return grads


def _flat(grads: dict[str, Tensor], names: Sequence[str] | dict[str, Tensor]) -> Tensor:
    return torch.cat([grads[name].double().flatten() for name in names])


def _ratio(numerator: Tensor, denominator: Tensor) -> float:
    return float(numerator / denominator) if denominator > 0 else math.inf


def _layers(network: ForecastNetwork) -> range:
    return range(len(network.stack.grus))


def diagnostic_network(
    config: NetworkConfig, seed: int = 0, dtype: torch.dtype = torch.float64
) -> ForecastNetwork:
    """A seeded network whose head is random, so that gradients reach the recurrent layers.

    `ForecastNetwork` starts its head at zero (an untrained net repeats the last value); with a
    zero head no error reaches the states and every recurrent gradient is zero, so there would
    be nothing to compare. The head gets `nn.Linear`'s own default initialisation instead.
    """
    torch.manual_seed(seed)
    network = ForecastNetwork(config).to(dtype)
    network.head.reset_parameters()
    return network


def pretrain(
    network: ForecastNetwork,
    batches: Callable[[int], Batch],
    steps: int,
    *,
    learning_rate: float = 1e-2,
    loss_warmup: int = 0,
    seed: int = 0,
) -> float:
    """Train in place with exact BPTT and Adam for `steps` steps; return the last loss.

    At initialisation a GRU forgets within a few steps, so the exact gradient has little
    temporal credit and every mode looks alike. A network that has started to learn the task has
    memory worth crediting; BPTT trains it so that no mode under test shaped the weights.
    `batches(step)` gives the batch of each step.
    """
    torch.manual_seed(seed)
    network.train()
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    mode = TrainingMode(EXACT_MODE)
    loss = torch.tensor(math.nan)
    for step in range(steps):
        batch = batches(step)
        quantiles = torch.tensor(
            network.config.quantiles, dtype=batch.target.dtype, device=batch.target.device
        )
        loss = batch_loss(network, batch, mode, loss_warmup, quantiles)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    network.zero_grad(set_to_none=True)
    return float(loss.detach())


def delayed_copy_batch(
    batch: int,
    steps: int,
    *,
    delay: int,
    horizon: int = 1,
    noise_std: float = 0.05,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Batch:
    """Windows of the delayed-copy task: y_t = u_{t-delay} + ε_t, with u observed at every step.

    ==========  ============  ===============================================
    target      (B, T)        y
    known       (B, T+H, 0)   none
    observed    (B, T, 1)     u, standard normal noise
    future      (B, T, H)     y at t+1..t+H for every step t
    level       (B,)          zeros (the series has no level)
    ==========  ============  ===============================================

    Forecasting y_{t+1..t+H} needs u_{t+1-delay..t+H-delay}, all seen already when
    horizon <= delay, and remembered over up to `delay` steps; ε has standard deviation
    `noise_std`.
    """
    if delay < 1 or steps < 1 or batch < 1:
        raise ValueError(f"delay, steps and batch must be positive, got {delay}, {steps}, {batch}")
    if not 1 <= horizon <= delay:
        raise ValueError(f"horizon must lie in [1, delay={delay}], got {horizon}")
    generator = torch.Generator().manual_seed(seed)
    total = steps + horizon
    # u over [-delay, total): the first `delay` values are the unseen past the first y copy.
    u = torch.randn(batch, total + delay, generator=generator, dtype=torch.float64)
    noise = torch.randn(batch, total, generator=generator, dtype=torch.float64)
    y = (u[:, :total] + noise_std * noise).to(dtype)  # (B, T+H)
    inputs = u[:, delay:].to(dtype)  # (B, T+H)
    return Batch(
        target=y[:, :steps],
        known=y.new_zeros(batch, total, 0),
        observed=inputs[:, :steps, None],
        future=y[:, 1:].unfold(1, horizon, 1)[:, :steps],  # (B, T, H)
        level=y.new_zeros(batch),
        weight=y.new_ones(batch, steps, horizon),
    )
