"""One training step of `dsf` against exact `bptt`: time and peak memory, side by side.

    python bench/speed.py [--quick] [--json] [--device auto|cpu|cuda] [--layers N]

Same network (the product's forecaster), same batch (32 windows), hidden 64 and 256,
T in {128, 512, 2048}. A step is forward + backward + clipping + AdamW. The two modes alternate
within one process and the median of the repeats is reported, so drift in machine load hits both.
Peak memory is the largest amount of tensor memory held during one step, from the allocator
(CUDA) or the profiler's allocation events (CPU).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from model.device import pick_device
from model.modes import TrainingMode
from model.network import ForecastNetwork, NetworkConfig
from model.trainer import batch_loss
from model.windows import Batch

BATCH, HORIZON = 32, 24


def synthetic_batch(steps: int, device: torch.device, seed: int = 0) -> Batch:
    """A batch shaped like real training windows (a noisy daily cycle), on `device`."""
    generator = torch.Generator().manual_seed(seed)
    phase = torch.rand(BATCH, 1, generator=generator) * 24
    t = torch.arange(steps + HORIZON, dtype=torch.float32) + phase
    series = torch.sin(2 * torch.pi * t / 24) + 0.3 * torch.randn(t.shape, generator=generator)
    series = series - series[:, :1]
    future = series[:, 1:].unfold(1, HORIZON, 1)[:, :steps]
    empty = series.new_zeros(BATCH, steps + HORIZON, 0)
    return Batch(series[:, :steps], empty, empty[:, :steps], future, series[:, 0]).to(device)


def make_step(network: ForecastNetwork, batch: Batch, mode: str) -> Callable[[], None]:
    """A closure that runs one full training step of `network` in `mode`."""
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    quantiles = torch.tensor(network.config.quantiles, device=batch.target.device)
    parsed = TrainingMode.parse(mode)

    def step() -> None:
        loss = batch_loss(network, batch, parsed, 0, quantiles)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()

    return step


def timed(step: Callable[[], None], device: torch.device) -> float:
    """Milliseconds of one call, synchronised on accelerators."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def peak_megabytes(step: Callable[[], None], device: torch.device) -> float:
    """Peak tensor memory held during one step, above what was held before it."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    # Allocations are booked on the op that made them, frees on "[memory]" events: replaying
    # them in time order gives the memory held at every moment of the step.
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    held = peak = 0
    for event in events:
        held += event.self_cpu_memory_usage
        peak = max(peak, held)
    return peak / 2**20


def compare(hidden: int, steps: int, layers: int, repeats: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    network = (
        ForecastNetwork(
            NetworkConfig(horizon=HORIZON, hidden=hidden, layers=layers, tau_max=float(steps))
        )
        .to(device)
        .train()
    )
    batch = synthetic_batch(steps, device)
    runs = {mode: make_step(copy.deepcopy(network), batch, mode) for mode in ("bptt", "dsf")}
    times: dict[str, list[float]] = {mode: [] for mode in runs}
    for step in runs.values():
        step()  # warm-up: allocator, thread pools, kernel selection
    for _ in range(repeats):
        for mode, step in runs.items():
            times[mode].append(timed(step, device))
    peaks = {mode: peak_megabytes(step, device) for mode, step in runs.items()}
    bptt_ms, dsf_ms = statistics.median(times["bptt"]), statistics.median(times["dsf"])
    return {
        "T": steps,
        "hidden": hidden,
        "layers": layers,
        "batch": BATCH,
        "device": device.type,
        "bptt_ms": round(bptt_ms, 2),
        "dsf_ms": round(dsf_ms, 2),
        "speedup": round(bptt_ms / dsf_ms, 3),
        "bptt_peak_mb": round(peaks["bptt"], 1),
        "dsf_peak_mb": round(peaks["dsf"], 1),
        "memory_ratio": round(peaks["dsf"] / max(peaks["bptt"], 1e-9), 3),
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    device = pick_device(args.device)
    repeats = 3 if args.quick else 7
    if not args.json:
        print(
            f"{'hidden':>6} {'T':>5} {'bptt ms':>9} {'dsf ms':>9} {'speedup':>8} "
            f"{'bptt MB':>8} {'dsf MB':>8}  ({device.type}, batch {BATCH}, "
            f"{args.layers} layers, median of {repeats})"
        )
    for hidden in (64, 256):
        for steps in (128, 512, 2048):
            row = compare(hidden, steps, args.layers, repeats, device)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"{hidden:>6} {steps:>5} {row['bptt_ms']:>9.1f} {row['dsf_ms']:>9.1f} "
                    f"{row['speedup']:>7.2f}x {row['bptt_peak_mb']:>8.1f} "
                    f"{row['dsf_peak_mb']:>8.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
