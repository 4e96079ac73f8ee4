"""`linecast demo`: simulate a production line, preprocess and train on it, print a forecast.

It shows the whole path on a fresh machine with no data, and scores the forecast against the
simulated day it did not see.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from app.cli.forecast import forecast_table
from app.cli.train import summary
from app.simulator import KNOWN_COVARIATES, LineConfig, simulate_line
from model.config import LineModelConfig, default_of
from model.line_model import LineModel


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="simulate a line, train (auto mode), forecast",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--days", type=int, default=120, help="days of hourly data")
    parser.add_argument("--horizon", type=int, default=24, help="hours to forecast")
    parser.add_argument("--epochs", type=int, default=default_of("epochs"), help="maximum epochs")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda...")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    frame = simulate_line(LineConfig(days=args.days, covariates=True), seed=args.seed)
    cut = len(frame) - args.horizon
    history, future = frame.iloc[:cut], frame.iloc[cut:]
    config = LineModelConfig(
        horizon=args.horizon,
        target="throughput",
        known=KNOWN_COVARIATES,
        epochs=args.epochs,
        seed=args.seed,
    )

    def progress(done: int, planned: int, message: str) -> None:
        if sys.stderr.isatty():
            print(f"[{done}/{planned}] {message}", file=sys.stderr, flush=True)

    model = LineModel(config, device=args.device).fit(history, on_progress=progress)
    forecast = model.forecast(history, future[list(KNOWN_COVARIATES)])
    print(model.pipeline.report.render())
    print(
        f"simulated {args.days} days of an hourly line ({len(frame)} rows, "
        f"{int(frame['throughput'].isna().sum())} in stops)"
    )
    print(summary(model, "throughput"))
    print(forecast_table(forecast))
    actual = future["throughput"].to_numpy()
    seen = np.isfinite(actual)
    median, low, high = forecast.median[seen], forecast.lower[seen], forecast.upper[seen]
    last = history["throughput"].dropna().iloc[-1]
    print(
        f"held-out day: MAE {np.abs(median - actual[seen]).mean():.2f} units/h "
        f"(repeat-last {np.abs(last - actual[seen]).mean():.2f}); "
        f"{np.mean((actual[seen] >= low) & (actual[seen] <= high)):.0%} of actuals inside the "
        f"q{forecast.quantiles[0]:g}-q{forecast.quantiles[-1]:g} band"
    )
