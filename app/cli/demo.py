"""`linecast demo`: simulate a production line, train on it with DSF, print a forecast.

The main job of `make run` until the service exists: it shows the whole path on a fresh machine
with no data, and scores the forecast against the simulated day it did not see.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from app.cli.forecast import forecast_table
from app.simulator import KNOWN_COVARIATES, LineConfig, simulate_line
from model.forecaster import Forecaster
from model.network import NetworkConfig
from model.trainer import TrainConfig
from model.windows import SeriesArrays


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="simulate a line, train with DSF, forecast",
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
    # Stops leave NaN; until the preprocessing pipeline lands, bridge them linearly.
    target = frame["throughput"].interpolate(limit_direction="both").to_numpy()
    known = frame[list(KNOWN_COVARIATES)].to_numpy(dtype=float)
    cut = len(frame) - args.horizon
    history = SeriesArrays.of(target[:cut], known[:cut])
    forecaster = Forecaster(
        NetworkConfig(horizon=args.horizon, known=len(KNOWN_COVARIATES), tau_max=168.0),
        TrainConfig(
            mode="dsf", context=168, max_epochs=args.epochs, steps_per_epoch=60, seed=args.seed
        ),
        device=args.device,
    ).fit(history, progress=sys.stderr.isatty())
    forecast = forecaster.predict(history, known[cut:])
    report = forecaster.report
    actual = target[cut:]
    print(
        f"simulated {args.days} days of an hourly line ({len(frame)} rows, "
        f"{int(frame['throughput'].isna().sum())} in stops); trained with dsf on "
        f"{forecaster.device} in {report.seconds:.1f}s ({report.steps} steps)"
    )
    stamps = [s.isoformat() for s in frame.index[cut:]]
    print(forecast_table(forecast, stamps))
    low, high = forecast.values[:, 0], forecast.values[:, -1]
    print(
        f"held-out day: MAE {np.abs(forecast.median - actual).mean():.2f} units/h "
        f"(repeat-last {np.abs(target[cut - 1] - actual).mean():.2f}); "
        f"{np.mean((actual >= low) & (actual <= high)):.0%} of actuals inside the "
        f"{forecast.quantiles[0]:g}-{forecast.quantiles[-1]:g} band"
    )
