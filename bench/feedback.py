"""Time each reverse-filter kernel side by side, in one process.

Figures only, not pass/fail. From the repository root:

    python bench/feedback.py                  # table on stdout
    python bench/feedback.py --json           # one JSON object per line
    python bench/feedback.py --device cuda --dims 64 256 --lengths 128 4096
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from model.feedback import KERNELS
from model.feedback.dispatch import choose_kernel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512, 2048, 4096])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=list(KERNELS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    generator = torch.Generator(device=device).manual_seed(0)
    if not args.json:
        print(f"B={args.batch} {args.dtype} {device} torch threads={torch.get_num_threads()}")
        header = "".join(f"{name:>12}" for name in args.kernels)
        print(f"{'D':>5}{'T':>7}{header}{'auto':>12}   (median ms)")
    for dim in args.dims:
        for length in args.lengths:
            shape = (args.batch, length, dim)
            e = torch.randn(shape, generator=generator, device=device, dtype=dtype)
            lam = torch.rand(dim, generator=generator, device=device, dtype=dtype) * 1.98 - 0.99
            row = {}
            for name in args.kernels:
                kernel = KERNELS[name]
                ms = time_ms(
                    lambda k=kernel, e=e, lam=lam: k(e, lam, None),
                    device,
                    args.repeats,
                    args.warmup,
                )
                row[name] = ms
                if args.json:
                    record = {"kernel": name, "B": args.batch, "T": length, "D": dim}
                    record |= {"dtype": args.dtype, "device": str(device), "ms": round(ms, 4)}
                    print(json.dumps(record), flush=True)
            if not args.json:
                cells = "".join(f"{row[name]:12.2f}" for name in args.kernels)
                print(f"{dim:>5}{length:>7}{cells}{choose_kernel(e):>12}", flush=True)


if __name__ == "__main__":
    main()
