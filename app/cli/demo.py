"""`linecast demo`: simulate a production line, preprocess and train on it, print a forecast.

It shows the whole path on a fresh machine with no data, and scores the forecast against the
simulated day it did not see.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from app.cli.forecast import forecast_table
from app.simulator import KNOWN_COVARIATES, LineConfig, simulate_line
from model.line_model import LineModel, LineSpec
from model.network import NetworkConfig
from model.trainer import TrainConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="simulate a line, train (auto mode), forecast",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--days", type=int, default=120, help="days of hourly data")
    parser.add_argument("--horizon", type=int, default=24, help="hours to forecast")
    parser.add_argument("--epochs", type=int, default=8, help="maximum epochs")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda...")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    frame = simulate_line(LineConfig(days=args.days, covariates=True), seed=args.seed)
    cut = len(frame) - args.horizon
    history, future = frame.iloc[:cut], frame.iloc[cut:]
    model = LineModel(
        LineSpec(target="throughput", known=KNOWN_COVARIATES),
        NetworkConfig(horizon=args.horizon, tau_max=168.0),
        TrainConfig(context=168, max_epochs=args.epochs, steps_per_epoch=60, seed=args.seed),
        device=args.device,
    ).fit(history, progress=sys.stderr.isatty())
    forecast = model.forecast(history, future[list(KNOWN_COVARIATES)])
    report = model.forecaster.report
    print(model.pipeline.report.render())
    print(
        f"simulated {args.days} days of an hourly line ({len(frame)} rows, "
        f"{int(frame['throughput'].isna().sum())} in stops); trained with {model.mode.used} on "
        f"{model.forecaster.device} in {report.seconds:.1f}s ({report.steps} steps)"
    )
    print(forecast_table(forecast))
    actual = future["throughput"].to_numpy()
    seen = np.isfinite(actual)
    bands = forecast.values[seen]
    median, low, high = bands["q0.5"], bands.iloc[:, 0], bands.iloc[:, -1]
    last = history["throughput"].dropna().iloc[-1]
    print(
        f"held-out day: MAE {np.abs(median - actual[seen]).mean():.2f} units/h "
        f"(repeat-last {np.abs(last - actual[seen]).mean():.2f}); "
        f"{np.mean((actual[seen] >= low) & (actual[seen] <= high)):.0%} of actuals inside the "
        f"{forecast.values.columns[0]}-{forecast.values.columns[-1]} band"
    )
