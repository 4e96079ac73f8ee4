"""One training step of `dsf` against exact `bptt`: time and peak memory, side by side.

    python bench/speed.py [--quick] [--json] [--device auto|cpu|cuda] [--layers N]

Same network (the product's forecaster), same batch (32 windows), hidden 64 and 256,
T in {128, 512, 2048}. A step is forward + backward + clipping + AdamW. The two modes alternate
within one process and the median of the repeats is reported, so drift in machine load hits both.
Peak memory is the most held during one step beyond what was held before it: the allocator's
peak on CUDA, the process's peak resident set on a Linux CPU (see `peak_megabytes`).
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import ctypes.util
import gc
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

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
    weight = torch.ones_like(future)
    return Batch(series[:, :steps], empty, empty[:, :steps], future, series[:, 0], weight).to(
        device
    )


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


def peak_megabytes(step: Callable[[], None], device: torch.device) -> float | None:
    """Peak memory held during one step above what was held before it.

    CUDA: the caching allocator's own peak. CPU: the process's peak resident set (Linux resets
    it through /proc/self/clear_refs), with glibc told to map every block over 64 KiB
    separately so that freed tensors leave the resident set at once instead of lingering in its
    heap. (The profiler's memory events were tried first: they book frees to the enclosing
    op's end, which overstates a chunked backward's peak.) None where neither is available.
    """
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    if device.type != "cpu" or not Path("/proc/self/clear_refs").exists():
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallopt(_M_MMAP_THRESHOLD, 1 << 16)
    gc.collect()
    libc.malloc_trim(0)
    before = _status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    step()
    return (_status_bytes("VmHWM") - before) / 2**20


_M_MMAP_THRESHOLD = -3  # mallopt parameter number, from glibc's malloc.h


def _status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def build_runs(
    hidden: int, steps: int, layers: int, device: torch.device
) -> dict[str, Callable[[], None]]:
    """One training-step closure per mode, on identical copies of one seeded network."""
    torch.manual_seed(0)
    config = NetworkConfig(horizon=HORIZON, hidden=hidden, layers=layers, tau_max=float(steps))
    network = ForecastNetwork(config).to(device).train()
    batch = synthetic_batch(steps, device)
    return {mode: make_step(copy.deepcopy(network), batch, mode) for mode in ("bptt", "dsf")}


def median_times(
    runs: dict[str, Callable[[], None]], repeats: int, device: torch.device
) -> dict[str, float]:
    """Median milliseconds per mode, the modes alternating so load drift hits both alike."""
    times: dict[str, list[float]] = {mode: [] for mode in runs}
    for step in runs.values():
        step()  # warm-up: allocator, thread pools, kernel selection
    for _ in range(repeats):
        for mode, step in runs.items():
            times[mode].append(timed(step, device))
    return {mode: statistics.median(samples) for mode, samples in times.items()}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    device = pick_device(args.device)
    repeats = 3 if args.quick else 7
    sizes = [(hidden, steps) for hidden in (64, 256) for steps in (128, 512, 2048)]
    # Every timing first: measuring memory changes how glibc maps blocks (see peak_megabytes),
    # which would slow the steps timed after it.
    rows = []
    for hidden, steps in sizes:
        ms = median_times(build_runs(hidden, steps, args.layers, device), repeats, device)
        rows.append(
            {
                "T": steps,
                "hidden": hidden,
                "layers": args.layers,
                "batch": BATCH,
                "device": device.type,
                "bptt_ms": round(ms["bptt"], 2),
                "dsf_ms": round(ms["dsf"], 2),
                "speedup": round(ms["bptt"] / ms["dsf"], 3),
                "repeats": repeats,
            }
        )
    if not args.json:
        print(
            f"{'hidden':>6} {'T':>5} {'bptt ms':>9} {'dsf ms':>9} {'speedup':>8} "
            f"{'bptt MB':>8} {'dsf MB':>8}  ({device.type}, batch {BATCH}, "
            f"{args.layers} layers, median of {repeats})"
        )
    for row in rows:
        runs = build_runs(row["hidden"], row["T"], args.layers, device)
        for step in runs.values():
            step()
        peaks = {mode: peak_megabytes(step, device) for mode, step in runs.items()}
        ratio = peaks["dsf"] / peaks["bptt"] if peaks["dsf"] and peaks["bptt"] else None
        row.update(
            bptt_peak_mb=_round(peaks["bptt"], 1),
            dsf_peak_mb=_round(peaks["dsf"], 1),
            memory_ratio=_round(ratio, 3),
        )
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(
                f"{row['hidden']:>6} {row['T']:>5} {row['bptt_ms']:>9.1f} "
                f"{row['dsf_ms']:>9.1f} {row['speedup']:>7.2f}x "
                f"{row['bptt_peak_mb']!s:>8} {row['dsf_peak_mb']!s:>8}",
                flush=True,
            )


if __name__ == "__main__":
    main()
