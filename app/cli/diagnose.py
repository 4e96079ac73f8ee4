"""`linecast diagnose-gradients`: how close each training mode's gradient is to exact BPTT.

Builds a seeded network and batch for a task, optionally trains it a little with BPTT (so it has
memory worth crediting), and prints the cosine of each mode's gradient to the exact one
(method.md §5), per parameter tensor and overall.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch

from app.cli.lists import add_list_option
from app.errors import UsageError
from app.simulator import KNOWN_COVARIATES, OBSERVED_COVARIATES, LineConfig, simulate_line
from model.diagnostics import (
    FidelityReport,
    delayed_copy_batch,
    diagnostic_network,
    gradient_fidelity,
    pretrain,
)
from model.modes import TrainingMode
from model.network import ForecastNetwork, NetworkConfig
from model.windows import Batch, Scaling, SeriesArrays, WindowMaker

TaskName = Literal["delayed-copy", "simulated-line"]
TASKS: tuple[TaskName, ...] = ("delayed-copy", "simulated-line")
DEFAULT_MODES = "dsf,dsf-adaptive,ft-bptt,tbptt:8"
# The trainer's default: the first steps have too little context to score.
_LINE_LOSS_WARMUP = 16


@dataclass(frozen=True)
class TaskSpec:
    """Everything that fixes a diagnosis: the task, its sizes and the seed."""

    task: TaskName = "delayed-copy"
    delay: int = 12
    steps: int = 64
    hidden: int = 16
    layers: int = 1
    batch: int = 16
    horizon: int = 1
    seed: int = 0
    train_steps: int = 0


@dataclass(frozen=True)
class Task:
    """A network, the batch its gradients are compared on, and the loss settings."""

    network: ForecastNetwork
    batch: Batch
    loss_warmup: int


def build_task(spec: TaskSpec) -> Task:
    """The seeded network and batch of `spec`, pretrained with BPTT if `spec.train_steps`."""
    _check(spec)
    if spec.task == "delayed-copy":
        task, batches = _delayed_copy(spec), _copy_batches(spec)
    else:
        maker, starts = _line_windows(spec)
        task, batches = _line_task(spec, maker, starts), _line_batches(spec, maker, starts)
    if spec.train_steps:
        pretrain(
            task.network, batches, spec.train_steps, loss_warmup=task.loss_warmup, seed=spec.seed
        )
    return task


def _check(spec: TaskSpec) -> None:
    """Refuse sizes that cannot work, naming the option the user typed."""
    positive = {
        "--steps": spec.steps,
        "--hidden": spec.hidden,
        "--layers": spec.layers,
        "--batch": spec.batch,
        "--delay": spec.delay,
        "--horizon": spec.horizon,
    }
    for option, value in positive.items():
        if value < 1:
            raise UsageError(f"{option} must be a positive integer, got {value}")
    if spec.seed < 0 or spec.train_steps < 0:
        raise UsageError("--seed and --train-steps must be >= 0")
    if spec.steps < 2:
        raise UsageError(f"--steps must be at least 2, got {spec.steps}")
    if spec.task == "delayed-copy":
        if spec.delay >= spec.steps:
            raise UsageError(f"--delay ({spec.delay}) must be below --steps ({spec.steps})")
        if spec.horizon > spec.delay:
            raise UsageError(f"--horizon ({spec.horizon}) must not exceed --delay ({spec.delay})")


def _delayed_copy(spec: TaskSpec) -> Task:
    config = NetworkConfig(
        horizon=spec.horizon, hidden=spec.hidden, layers=spec.layers, dropout=0.0, observed=1
    )
    batch = delayed_copy_batch(
        spec.batch, spec.steps, delay=spec.delay, horizon=spec.horizon, seed=spec.seed
    )
    # The first `delay` targets copy inputs from before the window: pure noise to the network.
    return Task(diagnostic_network(config, seed=spec.seed), batch, loss_warmup=spec.delay)


def _line_windows(spec: TaskSpec) -> tuple[WindowMaker, np.ndarray]:
    """Hourly simulated line with covariates, stop rows dropped, scaled on the whole series."""
    days = max(30, 2 * (spec.steps + spec.horizon) // 24 + 14)
    frame = simulate_line(
        LineConfig(days=days, covariates=True, drop_stop_rows=True), seed=spec.seed
    )
    series = SeriesArrays.of(
        frame["throughput"].to_numpy(),
        frame[list(KNOWN_COVARIATES)].to_numpy(dtype=np.float64),
        frame[list(OBSERVED_COVARIATES)].to_numpy(dtype=np.float64),
    )
    maker = WindowMaker(series, Scaling.fit(series), spec.steps, spec.horizon, dtype=torch.float64)
    starts = maker.starts(0, len(series))
    if len(starts) == 0:
        raise UsageError(f"--steps {spec.steps} is longer than the simulated series")
    return maker, starts


def _line_task(spec: TaskSpec, maker: WindowMaker, starts: np.ndarray) -> Task:
    config = NetworkConfig(
        horizon=spec.horizon,
        hidden=spec.hidden,
        layers=spec.layers,
        dropout=0.0,
        known=len(KNOWN_COVARIATES),
        observed=len(OBSERVED_COVARIATES),
    )
    pick = np.random.default_rng(spec.seed).choice(starts, spec.batch)
    warmup = min(_LINE_LOSS_WARMUP, spec.steps - 1)
    return Task(diagnostic_network(config, seed=spec.seed), maker.batch(pick), warmup)


def _copy_batches(spec: TaskSpec) -> Callable[[int], Batch]:
    def batches(step: int) -> Batch:
        # Seeds apart from the diagnosed batch's (spec.seed): training never sees that batch.
        seed = 1_000_003 * (spec.seed + 1) + step
        return delayed_copy_batch(
            spec.batch, spec.steps, delay=spec.delay, horizon=spec.horizon, seed=seed
        )

    return batches


def _line_batches(spec: TaskSpec, maker: WindowMaker, starts: np.ndarray) -> Callable[[int], Batch]:
    def batches(step: int) -> Batch:
        return maker.batch(np.random.default_rng((spec.seed, step + 1)).choice(starts, spec.batch))

    return batches


def parse_modes(text: str) -> list[str]:
    """Comma-separated mode names, each checked by `TrainingMode.parse`."""
    return checked_modes([part.strip() for part in text.split(",") if part.strip()])


def checked_modes(modes: list[str]) -> list[str]:
    """`modes`, each checked by `TrainingMode.parse`; none at all is a usage error too."""
    if not modes:
        raise UsageError("--modes needs at least one mode, e.g. 'dsf,ft-bptt'")
    for mode in modes:
        try:
            TrainingMode.parse(mode)
        except ValueError as error:
            raise UsageError(f"--modes: {error}") from error
    return modes


def diagnose(spec: TaskSpec, modes: list[str]) -> FidelityReport:
    """Build the task of `spec` and measure the gradient fidelity of `modes`."""
    task = build_task(spec)
    return gradient_fidelity(
        task.network, task.batch, modes, loss_warmup=task.loss_warmup, seed=spec.seed
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diagnose-gradients",
        help="cosine of each training mode's gradient to the exact BPTT gradient",
        description=__doc__.splitlines()[0],
    )
    defaults = TaskSpec()
    parser.add_argument(
        "--task",
        choices=TASKS,
        default=defaults.task,
        help=f"what to forecast (default {defaults.task})",
    )
    sizes = {
        "delay": "delayed-copy: steps to remember",
        "steps": "sequence length T",
        "hidden": "GRU units per layer",
        "layers": "GRU layers",
        "batch": "windows in the batch",
        "horizon": "forecast steps H",
        "train_steps": "BPTT steps to train first, so the network has memory",
    }
    for field, text in sizes.items():
        default = getattr(defaults, field)
        parser.add_argument(
            f"--{field.replace('_', '-')}",
            type=int,
            default=default,
            help=f"{text} (default {default})",
        )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default 0)")
    add_list_option(
        parser,
        "--modes",
        metavar="MODE",
        default=DEFAULT_MODES.split(","),
        help=f"modes compared with bptt (default {DEFAULT_MODES})",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    modes = checked_modes(args.modes)
    spec = TaskSpec(
        task=args.task,
        delay=args.delay,
        steps=args.steps,
        hidden=args.hidden,
        layers=args.layers,
        batch=args.batch,
        horizon=args.horizon,
        seed=args.seed,
        train_steps=args.train_steps,
    )
    report = diagnose(spec, modes)
    if args.json:
        print(json.dumps({"spec": asdict(spec), **report.to_json()}))
    else:
        print(
            f"{spec.task}: T={spec.steps} delay={spec.delay} hidden={spec.hidden} "
            f"layers={spec.layers} batch={spec.batch} train_steps={spec.train_steps} "
            f"seed={spec.seed}"
        )
        print(report.format_table())
