"""Equivalence and behaviour tests for the DSF feedback op and its kernels."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from model.feedback import KERNELS, StateFeedback, reverse_filter, state_feedback
from model.feedback.chunked import reverse_filter_chunked
from model.feedback.dispatch import choose_kernel
from model.feedback.sequential import reverse_filter_sequential

FAST_KERNELS = ["scan", "fft", "chunked"]
LENGTHS = [1, 2, 3, 7, 64, 127, 1000, 4096]
LAMBDA_SETS = ["uniform", "near_plus", "near_minus", "zero", "mixed"]
SEEDS = [0, 1]
# Errors are measured against max|δ|: δ grows like 1/(1-|λ|), and so does its rounding.
TOLERANCE = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    torch.float32: {"rtol": 1e-4, "atol": 1e-5},
}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _size(length: int) -> tuple[int, int]:
    """(B, D) small enough that the sequential reference stays fast for long T."""
    return (3, 16) if length <= 127 else (2, 8)


def make_lam(kind: str, dim: int, dtype: torch.dtype, seed: int) -> Tensor:
    gen = _gen(seed + 1000)
    near_one = 1 - 10 ** (-2 - 2 * torch.rand(dim, generator=gen, dtype=torch.float64))  # ≤ 0.9999
    if kind == "uniform":
        lam = (torch.rand(dim, generator=gen, dtype=torch.float64) * 2 - 1) * 0.9999
    elif kind == "near_plus":
        lam = near_one
    elif kind == "near_minus":
        lam = -near_one
    elif kind == "zero":
        lam = torch.zeros(dim, dtype=torch.float64)
    elif kind == "mixed":
        pool = torch.tensor([0.0, 0.5, -0.5, 0.9, -0.9, 0.999, -0.999, 0.9999], dtype=torch.float64)
        lam = pool[torch.arange(dim) % len(pool)]
    else:
        raise AssertionError(kind)
    return lam.to(dtype)


def make_case(
    length: int, kind: str, dtype: torch.dtype, seed: int
) -> tuple[Tensor, Tensor, Tensor]:
    batch, dim = _size(length)
    gen = _gen(seed)
    e = torch.randn(batch, length, dim, generator=gen, dtype=torch.float64).to(dtype)
    tail = torch.randn(batch, dim, generator=gen, dtype=torch.float64).to(dtype)
    return e, make_lam(kind, dim, dtype, seed), tail


def assert_matches_reference(out: Tensor, ref: Tensor) -> None:
    """Compare ``out`` with a float64 reference, scaled by the reference's magnitude."""
    tol = TOLERANCE[out.dtype]
    scale = max(ref.abs().max().item(), 1.0)
    torch.testing.assert_close(
        out.double().cpu(), ref.cpu(), rtol=tol["rtol"], atol=tol["atol"] * scale
    )


def reference(e: Tensor, lam: Tensor, tail: Tensor | None = None) -> Tensor:
    """Sequential kernel in float64 on the CPU, from the (possibly float32-rounded) inputs."""
    tail64 = None if tail is None else tail.double().cpu()
    return reverse_filter_sequential(e.double().cpu(), lam.double().cpu(), tail64)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", LAMBDA_SETS)
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernel", FAST_KERNELS)
def test_kernel_matches_sequential(
    kernel: str, dtype: torch.dtype, length: int, kind: str, seed: int
) -> None:
    e, lam, _ = make_case(length, kind, dtype, seed)
    assert_matches_reference(KERNELS[kernel](e, lam), reference(e, lam))


@pytest.mark.parametrize("length", [1, 7, 127, 1000])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_tail(kernel: str, dtype: torch.dtype, length: int) -> None:
    e, lam, tail = make_case(length, "mixed", dtype, seed=3)
    out = KERNELS[kernel](e, lam, tail)
    assert_matches_reference(out, reference(e, lam, tail))


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_tail_carries_between_time_chunks(kernel: str) -> None:
    """Filtering [a, b] at once equals filtering b, then a with b's first δ as the tail."""
    e, lam, _ = make_case(127, "uniform", torch.float64, seed=4)
    whole = KERNELS[kernel](e, lam)
    late = KERNELS[kernel](e[:, 50:], lam)
    early = KERNELS[kernel](e[:, :50], lam, late[:, 0])
    assert_matches_reference(torch.cat([early, late], dim=1), whole)


@pytest.mark.parametrize("length", [1, 2, 5, 9])
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_closed_form(kernel: str, length: int) -> None:
    """δ_t = Σ_{k≥t} λ^(k-t) e_k + λ^(T-t) tail (0-based t), summed term by term."""
    e, lam, tail = make_case(length, "mixed", torch.float64, seed=5)
    expected = torch.zeros_like(e)
    for t in range(length):
        for k in range(t, length):
            expected[:, t] += lam ** (k - t) * e[:, k]
        expected[:, t] += lam ** (length - t) * tail
    assert_matches_reference(KERNELS[kernel](e, lam, tail), expected)


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_zero_lambda_is_truncated_bptt(kernel: str) -> None:
    e, lam, tail = make_case(64, "zero", torch.float64, seed=6)
    assert_matches_reference(KERNELS[kernel](e, lam, tail), e)


@pytest.mark.parametrize("chunk", [1, 5, 64, 200])
def test_chunk_sizes(chunk: int) -> None:
    e, lam, tail = make_case(127, "mixed", torch.float64, seed=7)
    assert_matches_reference(
        reverse_filter_chunked(e, lam, tail, chunk=chunk), reference(e, lam, tail)
    )


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_time_major_non_contiguous_input(kernel: str) -> None:
    gen = _gen(8)
    time_major = torch.randn(100, 3, 16, generator=gen, dtype=torch.float64)  # (T, B, D)
    e = time_major.transpose(0, 1)  # (B, T, D), non-contiguous
    lam = make_lam("uniform", 16, torch.float64, seed=8)
    out = KERNELS[kernel](e, lam)
    assert out.shape == e.shape
    assert_matches_reference(out, reference(e.contiguous(), lam))


def test_sequential_keeps_time_major_strides() -> None:
    e = torch.randn(50, 2, 4, generator=_gen(9), dtype=torch.float64).transpose(0, 1)
    lam = make_lam("uniform", 4, torch.float64, seed=9)
    assert reverse_filter_sequential(e, lam).stride() == e.stride()


@pytest.mark.parametrize("kernel", ["auto", *KERNELS])
def test_forward_is_identity_and_backward_filters(kernel: str) -> None:
    e, lam, _ = make_case(64, "mixed", torch.float64, seed=10)
    h = torch.randn(e.shape, generator=_gen(11), dtype=torch.float64, requires_grad=True)
    out = state_feedback(h, lam, kernel=kernel)
    assert torch.equal(out, h)
    out.backward(e)
    assert_matches_reference(h.grad, reference(e, lam))


def test_backward_returns_one_gradient_per_input() -> None:
    e, lam, _ = make_case(7, "uniform", torch.float64, seed=12)
    h = torch.zeros_like(e, requires_grad=True)
    lam = lam.clone().requires_grad_(True)
    StateFeedback.apply(h, lam, "sequential").backward(e)
    assert lam.grad is None
    assert h.grad is not None


def _linear_rnn_dsf(x: Tensor, lam: Tensor, kernel: str) -> Tensor:
    """h_t = λ ⊙ h_{t-1} + x_t run without a tape, then recomputed from detached states.

    The linear diagonal RNN is the case where DSF is exact, so its gradient must equal the
    true Jacobian that gradcheck measures by finite differences.
    """
    with torch.no_grad():
        states = reverse_filter_sequential(x.flip(1), lam).flip(1)  # forward-time recursion
    previous = torch.nn.functional.pad(states[:, :-1], (0, 0, 1, 0))  # h_{t-1}, h_0 = 0
    recomputed = lam * previous.detach() + x
    return state_feedback(recomputed, lam, kernel=kernel)


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_gradcheck_linear_rnn(kernel: str) -> None:
    x = torch.randn(2, 9, 3, generator=_gen(13), dtype=torch.float64, requires_grad=True)
    lam = torch.tensor([0.9, -0.7, 0.3], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: _linear_rnn_dsf(x, lam, kernel), (x,))


def test_gradcheck_state_feedback_zero_lambda() -> None:
    """With λ = 0 the op is the identity in both directions, so gradcheck applies directly."""
    h = torch.randn(2, 5, 3, generator=_gen(14), dtype=torch.float64, requires_grad=True)
    lam = torch.zeros(3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda h: state_feedback(h, lam), (h,))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"e": torch.zeros(4, 3)}, "3-D"),
        ({"e": torch.zeros(2, 4, 3, dtype=torch.int64)}, "float32 or float64"),
        ({"lam": torch.zeros(4, dtype=torch.float64)}, "shape"),
        ({"lam": torch.zeros(3, dtype=torch.float32)}, "dtype"),
        ({"lam": torch.zeros(3, dtype=torch.float64, device="meta")}, "device"),
        ({"lam": torch.tensor([0.5, 1.0, 0.0], dtype=torch.float64)}, "(-1, 1)"),
        ({"lam": torch.tensor([0.5, -1.2, 0.0], dtype=torch.float64)}, "(-1, 1)"),
        ({"lam": torch.tensor([0.5, float("nan"), 0.0], dtype=torch.float64)}, "NaN"),
        ({"tail": torch.zeros(4, 3, dtype=torch.float64)}, "tail"),
        ({"tail": torch.zeros(2, 3, dtype=torch.float32)}, "tail"),
        ({"kernel": "bogus"}, "kernel"),
    ],
)
def test_bad_input_raises(change: dict, message: str) -> None:
    args = {
        "e": torch.zeros(2, 4, 3, dtype=torch.float64),
        "lam": torch.zeros(3, dtype=torch.float64),
        "tail": None,
        "kernel": "auto",
    } | change
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        reverse_filter(args["e"], args["lam"], args["tail"], kernel=args["kernel"])


def test_state_feedback_rejects_bad_lambda_in_forward() -> None:
    h = torch.zeros(2, 4, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="lam"):
        state_feedback(h, torch.full((3,), 1.5, dtype=torch.float64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("length", [1, 127, 4096])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernel", ["auto", *KERNELS])
def test_cuda_matches_cpu(kernel: str, dtype: torch.dtype, length: int) -> None:
    e, lam, tail = make_case(length, "mixed", dtype, seed=15)
    out = reverse_filter(e.cuda(), lam.cuda(), tail.cuda(), kernel=kernel)
    assert out.device.type == "cuda"
    assert_matches_reference(out, reference(e, lam, tail))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_backward_matches_cpu() -> None:
    e, lam, _ = make_case(1000, "uniform", torch.float32, seed=16)
    h = torch.zeros(e.shape, device="cuda", requires_grad=True)
    state_feedback(h, lam.cuda()).backward(e.cuda())
    assert_matches_reference(h.grad, reference(e, lam))


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((32, 4096, 64), "sequential"), ((1, 4096, 8), "scan"), ((1, 8, 8), "sequential")],
)
def test_auto_rule_on_cpu(shape: tuple[int, int, int], expected: str) -> None:
    assert choose_kernel(torch.empty(shape)) == expected
