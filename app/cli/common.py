"""Pieces the train, forecast, analyze and demo commands share: options, and reading series."""

from __future__ import annotations

import argparse

import pandas as pd

from app.cli.lists import add_list_option
from app.errors import UsageError
from model.config import CANDIDATE_KINDS, LineModelConfig, default_of
from preprocessing.loading import TIME_COLUMNS, InputError, LoadedSeries, read_csv_column
from preprocessing.pipeline import PipelineConfig
from preprocessing.regularise import RegulariseConfig
from preprocessing.trend import TREND_KINDS


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The line model's options; each default is `LineModelConfig`'s."""
    parser.add_argument(
        "--context",
        type=int,
        help="steps read per forecast (default: chosen from the sampling step)",
    )
    add_list_option(
        parser,
        "--candidates",
        metavar="KIND",
        default=list(default_of("candidates")),
        help=f"model kinds cross-validation may choose from (default {','.join(CANDIDATE_KINDS)})",
    )
    for flag, name, help_text in (
        ("--hidden", "hidden", "GRU units per layer"),
        ("--layers", "layers", "stacked GRU layers"),
        ("--epochs", "epochs", "maximum epochs"),
        ("--steps-per-epoch", "steps_per_epoch", "batches per epoch"),
        ("--seed", "seed", "random seed"),
    ):
        parser.add_argument(
            flag, type=int, default=default_of(name), help=f"{help_text} (default %(default)s)"
        )


def add_preprocessing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--freq", help="sampling step such as h or 5min (default: inferred)")
    parser.add_argument(
        "--trend",
        default="auto",
        choices=("auto", *TREND_KINDS),
        help="trend to remove (default auto: chosen from ADF and KPSS)",
    )
    add_list_option(
        parser,
        "--periods",
        metavar="STEPS",
        item=int,
        help="seasonal periods in steps (default: detected)",
    )
    parser.add_argument(
        "--max-fill",
        type=int,
        default=default_of("max_fill"),
        help="longest gap (steps) filled by interpolation (default %(default)s)",
    )


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """The preprocessing options as a config, their checks turned into usage errors."""
    try:
        return PipelineConfig(
            regularise=RegulariseConfig(freq=args.freq, max_fill=args.max_fill),
            trend=args.trend,
            periods=_periods(args),
        )
    except ValueError as error:
        raise UsageError(str(error)) from error


def line_config(
    args: argparse.Namespace,
    *,
    target: str,
    known: tuple[str, ...] = (),
    observed: tuple[str, ...] = (),
    calendar: bool | None = None,
) -> LineModelConfig:
    """The model and preprocessing options as one config; bad values become usage errors."""
    try:
        return LineModelConfig(
            horizon=args.horizon,
            context=args.context,
            target=target,
            known=known,
            observed=observed,
            mode=args.mode,
            candidates=tuple(args.candidates),
            hidden=args.hidden,
            layers=args.layers,
            epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            seed=args.seed,
            freq=args.freq,
            trend=args.trend,
            periods=_periods(args),
            max_fill=args.max_fill,
            calendar=calendar,
            timezone=args.timezone,
            shifts=tuple(args.shifts or ()),
        )
    except ValueError as error:
        raise UsageError(str(error)) from error


def _periods(args: argparse.Namespace) -> tuple[int, ...] | None:
    return tuple(args.periods) if args.periods else None


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
    """`--series ID,ID`, repeatable; absent (None) means every series the command applies to."""
    add_list_option(parser, "--series", metavar="ID", item=int, spaces=True, help=help)
