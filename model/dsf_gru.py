"""One GRU layer trained with stationary diagonal state feedback (DSF), without BPTT.

Shapes (time-major, like `nn.GRU`): T steps, B batch rows, F input features, D hidden units.

The layer computes the usual GRU (PyTorch's gate order r, z, n)::

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

and trains it with DSF (method.md §2-3): the backward pass treats `h_{t-1}` as a constant of
step t and carries temporal credit instead with the reverse-time filter `δ_t = e_t + λ ⊙ δ_{t+1}`.
Every parameter gradient is then a sum of local terms, computed for all steps at once.

Why this module writes the cell's backward by hand instead of recomputing the cell with a tape
(method.md §3 does the latter, and `tests/model/test_dsf_gru.py` checks both agree): on a CPU a
recomputed cell costs two extra (T·B × D × 3D) matmuls and a dozen full-size element-wise passes,
which at D = 256 costs more than the sequential backward it replaces. So:

* forward (`store_gates=True`, the CPU default): one matmul gives the input projections of all
  steps; a lean loop runs the recurrence and keeps the gates it computes anyway (r, z, n and
  r ⊙ (W_hn h + b_hn): 5D floats a step with h, less than the fused kernel's tape). Nothing is
  recomputed later.
* forward (`store_gates=False`, the CUDA default): the fused cuDNN kernel runs the recurrence,
  and the backward recomputes the gates in parallel, which a GPU does in microseconds while the
  fused forward saves thousands of kernel launches.
* backward: walks the sequence from the end in chunks of `chunk_steps` steps, small enough that
  the element-wise gate algebra of a chunk stays in cache; the δ filter carries across chunks
  through its `tail`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from model.feedback import KernelName, reverse_filter


@dataclass(frozen=True)
class DSFOptions:
    """How one DSF layer runs; none of it changes the numbers, only speed and memory."""

    store_gates: bool
    chunk_steps: int
    kernel: KernelName = "sequential"

    @staticmethod
    def for_device(device: torch.device, batch: int, hidden: int) -> DSFOptions:
        """Defaults by device: see the module docstring for why they differ."""
        if device.type == "cuda":
            return DSFOptions(store_gates=False, chunk_steps=1 << 30, kernel="auto")
        # About 2**17 floats per (chunk, B, D) tensor keeps a chunk's working set in L2 while
        # its matmuls still have thousands of rows.
        return DSFOptions(store_gates=True, chunk_steps=max(8, (1 << 17) // (batch * hidden)))


@dataclass
class JacobianProbe:
    """Running sum of the GRU Jacobian diagonal ∂h_t/∂h_{t-1}, filled by the DSF backward.

    `dsf-adaptive` (method.md §4) turns its mean into λ. The sum is gathered in the backward
    pass because the gates are in cache there anyway, so it costs a few element-wise ops.
    """

    total: Tensor
    count: int = 0

    def mean(self) -> Tensor:
        return self.total / max(self.count, 1)

    def reset(self) -> None:
        self.total.zero_()
        self.count = 0


class Gates(NamedTuple):
    """GRU gates of a run of steps: rz (c, B, 2D), n (c, B, D), s = r ⊙ (W_hn h + b_hn) (c, B, D).

    s rather than W_hn h + b_hn is kept because the forward needs it anyway and both gradients
    that read the recurrent projection follow from it: ∂n/∂r ∝ s / r and ∂n/∂gh_n ∝ r.
    """

    rz: Tensor
    n: Tensor
    s: Tensor


def sequential_forward(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    h0: Tensor,
    block: int = 64,
) -> tuple[Tensor, Gates]:
    """Run the recurrence without a tape, keeping the gates the backward pass needs.

    ==========  ==========  =================================
    x           (T, B, F)   layer input
    h0          (B, D)      initial state
    returns h   (T, B, D)   states h_1..h_T
    returns     Gates       of every step, each (T, B, ·)
    ==========  ==========  =================================
    """
    steps, batch, features = x.shape
    hidden = h0.shape[-1]
    with torch.no_grad():
        gates = Gates(
            rz=x.new_empty(steps, batch, 2 * hidden),
            n=x.new_empty(steps, batch, hidden),
            s=x.new_empty(steps, batch, hidden),
        )
        h = x.new_empty(steps, batch, hidden)  # (T, B, D)
        recurrent = x.new_empty(batch, 3 * hidden)
        w_hh_t = w_hh.t()
        previous = h0
        for start in range(0, steps, block):
            # Input projections a block at a time: one (T, B, 3D) tensor would be the largest
            # allocation of the whole training step.
            x_block = x[start : start + block]
            gi = torch.addmm(b_ih, x_block.reshape(-1, features), w_ih.t())
            gi = gi.view(len(x_block), batch, 3 * hidden)  # (block, B, 3D)
            # One matmul and six element-wise ops a step, all into preallocated rows: the loop
            # allocates nothing, which is why it beats the fused CPU kernel.
            for i in range(len(x_block)):
                t = start + i
                torch.addmm(b_hh, previous, w_hh_t, out=recurrent)
                rz = torch.add(
                    gi[i, :, : 2 * hidden], recurrent[:, : 2 * hidden], out=gates.rz[t]
                ).sigmoid_()
                s = torch.mul(rz[:, :hidden], recurrent[:, 2 * hidden :], out=gates.s[t])
                n = torch.add(gi[i, :, 2 * hidden :], s, out=gates.n[t]).tanh_()
                previous = torch.lerp(n, previous, rz[:, hidden:], out=h[t])
    return h, gates


def recompute_gates(
    x: Tensor, h_prev: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor
) -> Gates:
    """The gates of a run of steps from its inputs (c, B, F) and previous states (c, B, D)."""
    steps, batch, features = x.shape
    hidden = h_prev.shape[-1]
    gi = torch.addmm(b_ih, x.reshape(-1, features), w_ih.t()).view(steps, batch, -1)
    gh = torch.addmm(b_hh, h_prev.reshape(-1, hidden), w_hh.t()).view(steps, batch, -1)
    rz = torch.add(gi[..., : 2 * hidden], gh[..., : 2 * hidden]).sigmoid_()
    s = rz[..., :hidden] * gh[..., 2 * hidden :]
    return Gates(rz, torch.add(gi[..., 2 * hidden :], s).tanh_(), s)


class DSFGRUFunction(torch.autograd.Function):
    """GRU layer whose backward is the DSF gradient (see the module docstring).

    Inputs: x (T, B, F), w_ih (3D, F), w_hh (3D, D), b_ih (3D,), b_hh (3D,), h0 (B, D),
    lam (D,), options, probe (or None). Output: h (T, B, D).
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: Tensor,
        w_ih: Tensor,
        w_hh: Tensor,
        b_ih: Tensor,
        b_hh: Tensor,
        h0: Tensor,
        lam: Tensor,
        options: DSFOptions,
        probe: JacobianProbe | None,
    ) -> Tensor:
        if options.store_gates:
            h, gates = sequential_forward(x, w_ih, w_hh, b_ih, b_hh, h0)
            ctx.save_for_backward(x, w_ih, w_hh, h0, lam, h, *gates)
        else:
            params = [w_ih, w_hh, b_ih, b_hh]
            h, _ = torch.gru(x, h0.unsqueeze(0), params, True, 1, 0.0, False, False, False)
            ctx.save_for_backward(x, w_ih, w_hh, h0, lam, h, b_ih, b_hh)
        ctx.options = options
        ctx.probe = probe
        return h

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_h: Tensor):
        x, w_ih, w_hh, h0, lam, h, *saved = ctx.saved_tensors
        options: DSFOptions = ctx.options
        steps, batch, features = x.shape
        hidden = h.shape[-1]
        grads = _Accumulators.zeros(w_ih, w_hh, x if ctx.needs_input_grad[0] else None)
        tail: Tensor | None = None
        for start in reversed(range(0, steps, options.chunk_steps)):
            stop = min(start + options.chunk_steps, steps)
            rows = (stop - start) * batch
            h_prev = h[start - 1 : stop - 1] if start else torch.cat([h0[None], h[: stop - 1]])
            if options.store_gates:
                gates = Gates(*(g[start:stop] for g in saved))
            else:
                gates = recompute_gates(x[start:stop], h_prev, w_ih, w_hh, *saved)
            # (B, c, D) views of time-major chunks: the filter runs backwards over c steps and
            # hands the δ of the chunk's first step to the chunk before it.
            delta = reverse_filter(
                grad_h[start:stop].transpose(0, 1), lam, tail, kernel=options.kernel
            ).transpose(0, 1)  # (c, B, D)
            tail = delta[0]
            d_gi, d_ghn = _cell_gradients(delta, h_prev, gates, ctx.probe, w_hh)
            d_gi_rows, d_ghn_rows = d_gi.view(rows, 3 * hidden), d_ghn.view(rows, hidden)
            x_rows, h_prev_rows = x[start:stop].reshape(rows, features), h_prev.reshape(rows, -1)
            if grads.x is not None:
                torch.mm(d_gi_rows, w_ih, out=grads.x[start:stop].view(rows, features))
            grads.w_ih.addmm_(d_gi_rows.t(), x_rows)
            grads.w_hh[: 2 * hidden].addmm_(d_gi_rows[:, : 2 * hidden].t(), h_prev_rows)
            grads.w_hh[2 * hidden :].addmm_(d_ghn_rows.t(), h_prev_rows)
            grads.b_ih.add_(d_gi_rows.sum(0))
            grads.b_hhn.add_(d_ghn_rows.sum(0))
        b_hh = torch.cat([grads.b_ih[: 2 * hidden], grads.b_hhn])
        return grads.x, grads.w_ih, grads.w_hh, grads.b_ih, b_hh, None, None, None, None


@dataclass
class _Accumulators:
    """Gradient buffers the chunks of the backward pass add into."""

    x: Tensor | None
    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor
    b_hhn: Tensor

    @staticmethod
    def zeros(w_ih: Tensor, w_hh: Tensor, x: Tensor | None) -> _Accumulators:
        hidden = w_hh.shape[-1]
        return _Accumulators(
            # Contiguous whatever the strides of x (a transposed batch-first input, which needs
            # a gradient when it holds a global model's series vectors): each chunk writes its
            # rows through a view.
            x=torch.empty_like(x, memory_format=torch.contiguous_format) if x is not None else None,
            w_ih=torch.zeros_like(w_ih),
            w_hh=torch.zeros_like(w_hh),
            b_ih=w_ih.new_zeros(3 * hidden),
            b_hhn=w_ih.new_zeros(hidden),
        )


def _cell_gradients(
    delta: Tensor, h_prev: Tensor, gates: Gates, probe: JacobianProbe | None, w_hh: Tensor
) -> tuple[Tensor, Tensor]:
    """Gradients of one chunk's cells with respect to their pre-activations, h_{t-1} held fixed.

    ==========  ===========  ======================================================
    delta       (c, B, D)    filtered error δ_t = dL/dh_t under DSF
    h_prev      (c, B, D)    h_{t-1}
    returns     (c, B, 3D)   dL/d(gi) = [dr, dz, dn] pre-activation gradients
    returns     (c, B, D)    dL/d(gh_n) = dn ⊙ r (the only block where gh and gi differ)
    ==========  ===========  ======================================================
    """
    hidden = delta.shape[-1]
    r, z = gates.rz[..., :hidden], gates.rz[..., hidden:]
    n, s = gates.n, gates.s
    one_minus_z = 1.0 - z
    d_gi = delta.new_empty(*delta.shape[:2], 3 * hidden)
    d_r, d_z, d_n = d_gi[..., :hidden], d_gi[..., hidden : 2 * hidden], d_gi[..., 2 * hidden :]
    dtanh = n.square().neg_().add_(1.0)
    torch.mul(delta, one_minus_z, out=d_n).mul_(dtanh)
    torch.sub(h_prev, n, out=d_z).mul_(delta).mul_(z).mul_(one_minus_z)
    # ∂n-pre/∂r-pre = gh_n ⊙ r ⊙ (1 - r) = s ⊙ (1 - r)
    one_minus_r = 1.0 - r
    torch.mul(d_n, s, out=d_r).mul_(one_minus_r)
    if probe is not None:
        _add_jacobian_diagonal(probe, w_hh, h_prev, gates, one_minus_z, one_minus_r, dtanh)
    return d_gi, d_n * r


def _add_jacobian_diagonal(
    probe: JacobianProbe,
    w_hh: Tensor,
    h_prev: Tensor,
    gates: Gates,
    one_minus_z: Tensor,
    one_minus_r: Tensor,
    dtanh: Tensor,
) -> None:
    """Add Σ over (t, b) of diag(∂h_t/∂h_{t-1}) to the probe (method.md §4).

    diag J = z + (1-z)·tanh'·(r·U_n + s·(1-r)·U_r) + (h_{t-1} - n)·z·(1-z)·U_z, where U_* are
    the diagonals of the recurrent weight blocks: an element-wise closed form of the gates.
    """
    hidden = h_prev.shape[-1]
    r, z = gates.rz[..., :hidden], gates.rz[..., hidden:]
    u_r, u_z, u_n = (torch.diagonal(w_hh[i * hidden : (i + 1) * hidden]) for i in range(3))
    dn_dh = (r * u_n).add_(gates.s * one_minus_r * u_r).mul_(dtanh)
    diag = z + one_minus_z * dn_dh + (h_prev - gates.n) * z * one_minus_z * u_z
    probe.total.add_(diag.sum(dim=(0, 1)))
    probe.count += diag.shape[0] * diag.shape[1]
