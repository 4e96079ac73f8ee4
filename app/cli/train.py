"""`linecast train`: fit a forecaster on one column of a CSV file and save it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.common import add_model_options, load_series, network_and_training
from app.errors import UsageError
from model.forecaster import Forecaster


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a forecaster on a CSV column", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--csv", required=True, metavar="PATH", help="input CSV file")
    parser.add_argument("--column", required=True, help="target column to forecast")
    parser.add_argument("--horizon", type=int, required=True, help="steps to forecast")
    parser.add_argument(
        "--mode", default="dsf", help="bptt, tbptt:K, ft-bptt, dsf or dsf-adaptive (default dsf)"
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="model file to write")
    parser.add_argument("--known", default="", help="comma-separated known-in-advance columns")
    parser.add_argument("--observed", default="", help="comma-separated observed-only columns")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda...")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    known, observed = _columns(args.known), _columns(args.observed)
    network, training = network_and_training(args, known=len(known), observed=len(observed))
    series = load_series(args.csv, args.column, known, observed)
    try:
        forecaster = Forecaster(network, training, device=args.device)
        forecaster.fit(series.arrays, progress=not args.quiet and sys.stderr.isatty())
    except ValueError as error:
        raise UsageError(str(error)) from error
    forecaster.save(
        Path(args.out),
        extra={"column": args.column, "known": known, "observed": observed, "freq": series.freq},
    )
    report = forecaster.report
    kept = (
        f"epoch {report.best_epoch + 1}"
        if report.best_epoch >= 0
        else "the untrained network: no epoch beat repeating the last value"
    )
    print(
        f"trained {args.column!r} with {training.mode} on {forecaster.device}: "
        f"{report.steps} steps in {report.seconds:.1f}s, validation loss "
        f"{report.best_validation_loss:.4f} (kept {kept}); "
        f"{series.filled} missing values interpolated; saved {args.out}"
    )


def _columns(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]
