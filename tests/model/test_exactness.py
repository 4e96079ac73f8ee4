"""Where DSF must be exact: a linear diagonal RNN (method.md §2), λ = 0, and the forward pass.

For h_t = λ ⊙ h_{t-1} + W x_t the Jacobian ∂h_t/∂h_{t-1} is diag(λ) at every step, so the
stationary assumption holds exactly and DSF must reproduce BPTT; with λ = 0 it must be FT-BPTT.
All modes share one forward computation, so their outputs must agree for identical weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from torch import Tensor

from model.feedback import KERNELS, state_feedback
from model.modes import TrainingMode
from model.network import ForecastNetwork, NetworkConfig

BATCH, STEPS, FEATURES, HIDDEN = 3, 41, 4, 6
LAMBDA_SETS = {
    "mixed": [0.5, -0.3, 0.9, -0.8, 0.0, 0.2],
    "negative": [-0.1, -0.5, -0.9, -0.99, -0.7, -0.3],
    "near_plus_one": [0.999, 0.9999, 0.99, 0.995, 0.9, 0.98],
    "near_minus_one": [-0.999, -0.9999, -0.99, -0.995, -0.9, -0.98],
    "near_both": [0.9999, -0.9999, 0.999, -0.999, 0.5, -0.5],
}
MODES = ["bptt", "tbptt:5", "ft-bptt", "dsf", "dsf-adaptive"]

Run = Callable[[Tensor, Tensor, Tensor], Tensor]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """These tensors are tiny: on a shared 2-core machine threads only add contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _problem(seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """W (D, F), x (B, T, F) and a readout V (D, 2), all float64 and seeded."""
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(HIDDEN, FEATURES, generator=generator, dtype=torch.float64)
    x = torch.randn(BATCH, STEPS, FEATURES, generator=generator, dtype=torch.float64)
    readout = torch.randn(HIDDEN, 2, generator=generator, dtype=torch.float64)
    return w, x, readout


def _loss(h: Tensor, readout: Tensor) -> Tensor:
    """A non-linear loss term at every step, so each e_t depends on h_t."""
    return torch.tanh(h @ readout).square().sum() + h.square().sum() * 1e-2


def _bptt(w: Tensor, x: Tensor, lam: Tensor) -> Tensor:
    """The specification: autograd through the sequential loop."""
    h, states = x.new_zeros(BATCH, HIDDEN), []
    for t in range(STEPS):
        h = lam * h + x[:, t] @ w.T
        states.append(h)
    return torch.stack(states, dim=1)  # (B, T, D)


def _ft_bptt(w: Tensor, x: Tensor, lam: Tensor) -> Tensor:
    """The loop with h_{t-1} detached at every step: no credit through time."""
    h, states = x.new_zeros(BATCH, HIDDEN), []
    for t in range(STEPS):
        h = lam * h.detach() + x[:, t] @ w.T
        states.append(h)
    return torch.stack(states, dim=1)  # (B, T, D)


def _dsf(kernel: str) -> Run:
    """method.md §3: forward without a tape, parallel recompute, feedback op."""

    def run(w: Tensor, x: Tensor, lam: Tensor) -> Tensor:
        with torch.no_grad():
            h = _bptt(w, x, lam)
        h_prev = torch.cat([h.new_zeros(BATCH, 1, HIDDEN), h[:, :-1]], dim=1)  # (B, T, D)
        # Detached: the filter, not the tape, carries credit from h_t back to h_{t-1}.
        recomputed = lam * h_prev.detach() + x @ w.T  # (B, T, D)
        return state_feedback(recomputed, lam, kernel=kernel)

    return run


def _gradients(run: Run, lam: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    """dL/dW and dL/dx for the run's states under the shared loss."""
    w, x, readout = _problem(seed)
    w.requires_grad_()
    x.requires_grad_()
    _loss(run(w, x, lam), readout).backward()
    return w.grad, x.grad


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("lam_set", sorted(LAMBDA_SETS))
def test_dsf_equals_bptt_on_linear_diagonal_rnn(lam_set: str, kernel: str, seed: int) -> None:
    lam = torch.tensor(LAMBDA_SETS[lam_set], dtype=torch.float64)
    expected = _gradients(_bptt, lam, seed)
    actual = _gradients(_dsf(kernel), lam, seed)
    for got, want in zip(actual, expected, strict=True):
        # δ grows like 1/(1-|λ|) near ±1, so the tolerance is relative to the largest entry.
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6 * float(want.abs().max()))


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_dsf_with_zero_lambda_equals_ft_bptt(kernel: str) -> None:
    """λ = 0 makes δ = e exactly; only the order of summing W's terms differs."""
    lam = torch.zeros(HIDDEN, dtype=torch.float64)
    expected = _gradients(_ft_bptt, lam, 3)
    actual = _gradients(_dsf(kernel), lam, 3)
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_ft_bptt_mode_is_dsf_with_zero_lambda_bit_for_bit() -> None:
    """`ft-bptt` on the network runs the very DSF code path with λ = 0: identical bits."""
    network, batch = _network(dropout=0.0)
    ft = _network_gradients(network, batch, "ft-bptt")
    for index in range(len(network.stack.grus)):
        network.stack.feedback(index).zero_()
    dsf = _network_gradients(network, batch, "dsf")
    for name in ft:
        assert torch.equal(ft[name], dsf[name]), name


def _network(dropout: float) -> tuple[ForecastNetwork, dict[str, Tensor]]:
    """A float64 two-layer network in train mode with a random head, and a seeded batch."""
    torch.manual_seed(0)
    config = NetworkConfig(horizon=3, hidden=8, layers=2, dropout=dropout, known=1, observed=2)
    network = ForecastNetwork(config).double().train()
    # The head starts at zero; a random one makes every layer's output reach the forecasts.
    network.head.reset_parameters()
    generator = torch.Generator().manual_seed(1)
    steps = 33
    batch = {
        "target": torch.randn(4, steps, generator=generator, dtype=torch.float64),
        "known": torch.randn(4, steps + 3, 1, generator=generator, dtype=torch.float64),
        "observed": torch.randn(4, steps, 2, generator=generator, dtype=torch.float64),
    }
    return network, batch


def _forward(network: ForecastNetwork, batch: dict[str, Tensor], mode: str) -> Tensor:
    torch.manual_seed(123)
    return network(**batch, mode=TrainingMode.parse(mode))


def _network_gradients(
    network: ForecastNetwork, batch: dict[str, Tensor], mode: str
) -> dict[str, Tensor]:
    network.zero_grad(set_to_none=True)
    _forward(network, batch, mode).square().mean().backward()
    return {name: p.grad.clone() for name, p in network.named_parameters()}


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_all_modes_give_identical_forward_outputs(dropout: float) -> None:
    """Modes differ only in the backward pass; with one torch seed, dropout masks agree too."""
    network, batch = _network(dropout)
    with torch.enable_grad():
        outputs = {mode: _forward(network, batch, mode).detach() for mode in MODES}
    reference = outputs["bptt"]
    if dropout:
        # Dropout really is on: an eval-mode forward (no masks) must differ.
        network.eval()
        assert not torch.allclose(_forward(network, batch, "bptt"), reference)
    for mode, output in outputs.items():
        torch.testing.assert_close(output, reference, rtol=1e-12, atol=1e-12, msg=mode)
