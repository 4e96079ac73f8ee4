"""`linecast train`: preprocess one column of a CSV file, choose and train its model, save it.

The same `LineModel` the service trains: cross-validation chooses among the GRU on each
applicable preprocessing, the linear and smoothing models and the naive baselines, and the
chosen one is saved with its intervals calibrated on the validation origins.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.common import (
    add_model_options,
    add_preprocessing_options,
    line_config,
    load_csv,
)
from app.cli.lists import add_list_option
from app.errors import UsageError
from model.line_model import FittedLineModel, LineModel


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a forecaster on a CSV column", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--csv", required=True, metavar="PATH", help="input CSV file")
    parser.add_argument("--column", required=True, help="target column to forecast")
    parser.add_argument("--horizon", type=int, required=True, help="steps to forecast")
    parser.add_argument(
        "--mode",
        default="auto",
        help="auto (dsf where the model's input is stationary, else dsf checked against "
        "bptt), bptt, tbptt:K, ft-bptt, dsf or dsf-adaptive (default auto)",
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="model file to write")
    add_list_option(parser, "--known", metavar="COLUMN", help="known-in-advance columns")
    add_list_option(parser, "--observed", metavar="COLUMN", help="observed-only columns")
    parser.add_argument(
        "--timezone", default="UTC", help="plant's IANA time zone for calendar features"
    )
    add_list_option(
        parser, "--shifts", metavar="HOUR", item=float, help="local shift start hours, e.g. 6,14,22"
    )
    calendar = parser.add_mutually_exclusive_group()
    calendar.add_argument(
        "--calendar",
        dest="calendar",
        action="store_const",
        const=True,
        help="local-time calendar features (default: with a time zone other than UTC or shifts)",
    )
    calendar.add_argument(
        "--no-calendar", dest="calendar", action="store_const", const=False, help="none"
    )
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda...")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    add_model_options(parser)
    add_preprocessing_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    known, observed = tuple(args.known or ()), tuple(args.observed or ())
    config = line_config(
        args, target=args.column, known=known, observed=observed, calendar=args.calendar
    )
    loaded = load_csv(args.csv, args.column, known + observed)

    def progress(done: int, planned: int, message: str) -> None:
        print(f"[{done}/{planned}] {message}", file=sys.stderr, flush=True)

    try:
        model = LineModel(config, device=args.device).fit(
            loaded.history(), on_progress=None if args.quiet else progress
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    model.save(Path(args.out))
    print(summary(model, args.column))
    print(f"saved {args.out}")


def summary(model: FittedLineModel, column: str) -> str:
    """The preprocessing verdict, the candidate table and the choice, as printed lines."""
    selection = model.selection
    lines = [
        f"preprocessing: {model.pipeline.report.dsf_verdict}; trend {model.pipeline.report.trend}",
        f"{column!r}: context {model.context}, {selection.training_rows} training and "
        f"{selection.validation_rows} validation rows, {selection.validation_origins} origins",
        f"{'candidate':<58} {'mode':>6} {'MSE':>12} {'MAE':>10} {'train s':>8}  status",
    ]
    for row in selection.candidates:
        lines.append(
            f"{row.name:<58} {row.mode or '-':>6} {row.mse:>12.5g} {row.mae:>10.4g} "
            f"{row.train_seconds:>8.1f}  {row.status}"
        )
    lines.append(f"chosen {selection.chosen}: {selection.reason}")
    if model.mode is not None:
        lines.append(f"mode {model.mode.used}: {model.mode.reason}")
    coverage = model.calibrations[model.serving].coverage
    if coverage is not None:
        lines.append(f"interval coverage on the validation origins: {coverage:.1%}")
    return "\n".join(lines)
