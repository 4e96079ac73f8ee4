"""The hand-written DSF GRU backward against method.md §3 done with autograd, in float64."""

import pytest
import torch
from torch import nn

from model.dsf_gru import (
    DSFGRUFunction,
    DSFOptions,
    JacobianProbe,
    recompute_gates,
    sequential_forward,
)
from model.feedback import state_feedback

STEPS, BATCH, FEATURES, HIDDEN = 37, 3, 4, 5


def _gru(seed: int) -> nn.GRU:
    torch.manual_seed(seed)
    return nn.GRU(FEATURES, HIDDEN).double()


def _weights(gru: nn.GRU) -> tuple[torch.Tensor, ...]:
    return gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0


def _cell(gru: nn.GRU, x: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
    """The GRU cell for all steps at once, with a tape (method.md §3, step 2)."""
    w_ih, w_hh, b_ih, b_hh = _weights(gru)
    gi, gh = x @ w_ih.T + b_ih, h_prev @ w_hh.T + b_hh
    r, z = (
        torch.sigmoid(gi[..., :HIDDEN] + gh[..., :HIDDEN]),
        torch.sigmoid(gi[..., HIDDEN : 2 * HIDDEN] + gh[..., HIDDEN : 2 * HIDDEN]),
    )
    n = torch.tanh(gi[..., 2 * HIDDEN :] + r * gh[..., 2 * HIDDEN :])
    return (1 - z) * n + z * h_prev


def _reference_dsf(gru: nn.GRU, x: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """method.md §3: fused forward without a tape, parallel recompute, feedback op."""
    with torch.no_grad():
        h, _ = gru(x)
    h_prev = torch.cat([torch.zeros_like(h[:1]), h[:-1]])
    recomputed = _cell(gru, x, h_prev)  # (T, B, D)
    return state_feedback(recomputed.transpose(0, 1), lam).transpose(0, 1)


def _grads(run, gru: nn.GRU, x: torch.Tensor, upstream: torch.Tensor) -> list[torch.Tensor]:
    gru.zero_grad()
    x.grad = None
    (run() * upstream).sum().backward()
    return [p.grad.clone() for p in _weights(gru)] + [x.grad.clone()]


def _inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(STEPS, BATCH, FEATURES, dtype=torch.float64, generator=generator)
    upstream = torch.randn(STEPS, BATCH, HIDDEN, dtype=torch.float64, generator=generator)
    lam = torch.rand(HIDDEN, dtype=torch.float64, generator=generator) * 1.9 - 0.95
    return x.requires_grad_(), upstream, lam


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "options",
    [
        DSFOptions(store_gates=True, chunk_steps=1),
        DSFOptions(store_gates=True, chunk_steps=8),
        DSFOptions(store_gates=True, chunk_steps=1000),
        DSFOptions(store_gates=False, chunk_steps=5, kernel="scan"),
        DSFOptions(store_gates=False, chunk_steps=1000, kernel="fft"),
    ],
)
def test_fused_backward_equals_autograd_reference(seed: int, options: DSFOptions) -> None:
    gru = _gru(seed)
    x, upstream, lam = _inputs(seed)
    h0 = torch.zeros(BATCH, HIDDEN, dtype=torch.float64)

    def fused() -> torch.Tensor:
        return DSFGRUFunction.apply(x, *_weights(gru), h0, lam, options, None)

    expected = _grads(lambda: _reference_dsf(gru, x, lam), gru, x, upstream)
    actual = _grads(fused, gru, x, upstream)
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_lambda_zero_is_ft_bptt() -> None:
    """λ = 0 must equal a tape through the cell with every h_{t-1} detached (no credit in time)."""
    gru = _gru(2)
    x, upstream, _ = _inputs(2)
    h0 = torch.zeros(BATCH, HIDDEN, dtype=torch.float64)
    options = DSFOptions(store_gates=True, chunk_steps=4)

    def ft_bptt() -> torch.Tensor:
        states, h = [], h0
        for t in range(STEPS):
            h = _cell(gru, x[t], h.detach())
            states.append(h)
        return torch.stack(states)

    zero = torch.zeros(HIDDEN, dtype=torch.float64)
    expected = _grads(ft_bptt, gru, x, upstream)
    actual = _grads(
        lambda: DSFGRUFunction.apply(x, *_weights(gru), h0, zero, options, None), gru, x, upstream
    )
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("store_gates", [True, False])
def test_a_transposed_input_gets_its_gradient(store_gates: bool) -> None:
    """The network reads (B, T, F) features transposed to time-major; with a global model's
    series vectors among them the input needs its gradient, whatever its strides."""
    gru = _gru(3)
    x, upstream, lam = _inputs(3)
    h0 = torch.zeros(BATCH, HIDDEN, dtype=torch.float64)
    options = DSFOptions(store_gates=store_gates, chunk_steps=8)

    def dsf(inputs: torch.Tensor) -> torch.Tensor:
        return DSFGRUFunction.apply(inputs, *_weights(gru), h0, lam, options, None)

    batch_first = x.detach().transpose(0, 1).contiguous().requires_grad_()
    (dsf(batch_first.transpose(0, 1)) * upstream).sum().backward()
    expected = _grads(lambda: dsf(x), gru, x, upstream)[-1]
    # Float64 rounding only: a strided input may take another matmul kernel (seen on AMD EPYC,
    # 1e-16 apart), where a missing or misplaced gradient is off by the gradient itself.
    torch.testing.assert_close(batch_first.grad.transpose(0, 1), expected, rtol=1e-10, atol=1e-12)


def test_sequential_forward_equals_fused_gru() -> None:
    gru = _gru(3)
    x, _, _ = _inputs(3)
    h0 = torch.randn(BATCH, HIDDEN, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    h, gates = sequential_forward(x.detach(), *_weights(gru), h0)
    expected, _ = gru(x, h0[None])
    torch.testing.assert_close(h, expected.detach(), rtol=1e-12, atol=1e-12)
    h_prev = torch.cat([h0[None], h[:-1]])
    for kept, recomputed in zip(
        gates, recompute_gates(x.detach(), h_prev, *_weights(gru)), strict=True
    ):
        torch.testing.assert_close(kept, recomputed, rtol=1e-12, atol=1e-12)


def test_probe_measures_the_jacobian_diagonal() -> None:
    """The probe's mean must equal the mean diagonal of ∂h_t/∂h_{t-1} taken by autograd."""
    gru = _gru(4)
    x, upstream, lam = _inputs(4)
    h0 = torch.zeros(BATCH, HIDDEN, dtype=torch.float64)
    probe = JacobianProbe(torch.zeros(HIDDEN, dtype=torch.float64))
    options = DSFOptions(store_gates=True, chunk_steps=6)
    (DSFGRUFunction.apply(x, *_weights(gru), h0, lam, options, probe) * upstream).sum().backward()

    with torch.no_grad():
        h, _ = gru(x)
    h_prev = torch.cat([h0[None], h[:-1]]).detach().requires_grad_()
    diagonals = torch.zeros(HIDDEN, dtype=torch.float64)
    for unit in range(HIDDEN):
        (grad,) = torch.autograd.grad(_cell(gru, x.detach(), h_prev)[..., unit].sum(), h_prev)
        diagonals[unit] = grad[..., unit].mean()
    assert probe.count == STEPS * BATCH
    torch.testing.assert_close(probe.mean(), diagonals, rtol=1e-10, atol=1e-12)
