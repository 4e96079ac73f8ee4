"""Pieces the train, forecast, analyze and demo commands share: options, and reading series."""

from __future__ import annotations

import argparse

import pandas as pd

from app.errors import UsageError
from model.modes import TrainingMode
from model.network import NetworkConfig
from model.trainer import TrainConfig
from preprocessing.calendar import CalendarConfig
from preprocessing.loading import TIME_COLUMNS, InputError, LoadedSeries, read_csv_column
from preprocessing.pipeline import PipelineConfig
from preprocessing.regularise import RegulariseConfig
from preprocessing.trend import TREND_KINDS


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--context", type=int, default=168, help="steps read per forecast")
    parser.add_argument("--hidden", type=int, default=64, help="GRU units per layer")
    parser.add_argument("--layers", type=int, default=2, help="stacked GRU layers")
    parser.add_argument("--epochs", type=int, default=30, help="maximum epochs")
    parser.add_argument("--steps-per-epoch", type=int, default=100, help="batches per epoch")
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def add_preprocessing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--freq", help="sampling step such as h or 5min (default: inferred)")
    parser.add_argument(
        "--trend",
        default="auto",
        choices=("auto", *TREND_KINDS),
        help="trend to remove (default auto: chosen from ADF and KPSS)",
    )
    parser.add_argument(
        "--periods", help="comma-separated seasonal periods in steps (default: detected)"
    )
    parser.add_argument(
        "--max-fill", type=int, default=3, help="longest gap (steps) filled by interpolation"
    )


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """The preprocessing options as a config, their checks turned into usage errors."""
    try:
        periods = (
            tuple(int(p) for p in args.periods.split(",") if p.strip()) if args.periods else None
        )
        return PipelineConfig(
            regularise=RegulariseConfig(freq=args.freq, max_fill=args.max_fill),
            trend=args.trend,
            periods=periods,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error


def calendar_config(args: argparse.Namespace) -> CalendarConfig | None:
    if args.no_calendar:
        return None
    try:
        shifts = tuple(float(h) for h in args.shifts.split(",") if h.strip()) if args.shifts else ()
        return CalendarConfig(timezone=args.timezone, shift_starts=shifts)
    except ValueError as error:
        raise UsageError(str(error)) from error


def network_and_training(
    args: argparse.Namespace, known: int, observed: int
) -> tuple[NetworkConfig, TrainConfig]:
    """Build the configurations, turning their checks into one-line usage errors.

    With `--mode auto` the training config carries "dsf" until preprocessing decides.
    """
    try:
        mode = "dsf" if args.mode == "auto" else args.mode
        TrainingMode.parse(mode)
        network = NetworkConfig(
            horizon=args.horizon,
            hidden=args.hidden,
            layers=args.layers,
            known=known,
            observed=observed,
            tau_max=float(max(args.context, 1)),
        )
        training = TrainConfig(
            mode=mode,
            context=args.context,
            max_epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            seed=args.seed,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    return network, training


def load_csv(
    path: str, column: str, covariates: tuple[str, ...] = (), allow_future_rows: bool = False
) -> LoadedSeries:
    """Read a CSV with a time column; every problem becomes a one-line usage error."""
    try:
        loaded = read_csv_column(path, column, covariates, allow_future_rows)
    except InputError as error:
        raise UsageError(str(error)) from error
    if not isinstance(loaded.frame.index, pd.DatetimeIndex):
        raise UsageError(f"{path} needs a time column named one of: {', '.join(TIME_COLUMNS)}")
    return loaded


def add_series_option(parser: argparse.ArgumentParser, help: str) -> None:
    """`--series ID [ID ...]`, repeatable; absent means every series the command applies to."""
    parser.add_argument("--series", type=int, nargs="+", action="extend", metavar="ID", help=help)


def columns(text: str) -> tuple[str, ...]:
    """Comma-separated column names."""
    return tuple(name.strip() for name in text.split(",") if name.strip())
