"""`linecast train`: preprocess one column of a CSV file, train a forecaster on it, save it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.common import (
    add_model_options,
    add_preprocessing_options,
    calendar_config,
    columns,
    load_csv,
    network_and_training,
    pipeline_config,
)
from app.errors import UsageError
from model.line_model import LineModel, LineSpec


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
        help="auto (dsf if preprocessing makes the series stationary, else bptt), bptt, "
        "tbptt:K, ft-bptt, dsf or dsf-adaptive (default auto)",
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="model file to write")
    parser.add_argument("--known", default="", help="comma-separated known-in-advance columns")
    parser.add_argument("--observed", default="", help="comma-separated observed-only columns")
    parser.add_argument(
        "--timezone", default="UTC", help="plant's IANA time zone for calendar features"
    )
    parser.add_argument("--shifts", help="comma-separated local shift start hours, e.g. 6,14,22")
    parser.add_argument("--no-calendar", action="store_true", help="no calendar features")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda...")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_options(parser)
    add_preprocessing_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    known, observed = columns(args.known), columns(args.observed)
    network, training = network_and_training(args, known=0, observed=0)
    spec = LineSpec(
        target=args.column,
        known=known,
        observed=observed,
        mode=args.mode,
        calendar=calendar_config(args),
        pipeline=pipeline_config(args),
    )
    loaded = load_csv(args.csv, args.column, known + observed)
    try:
        model = LineModel(spec, network, training, device=args.device)
        model.fit(loaded.history(), progress=not args.quiet and sys.stderr.isatty())
    except ValueError as error:
        raise UsageError(str(error)) from error
    model.save(Path(args.out))
    report, mode = model.forecaster.report, model.mode
    kept = (
        f"epoch {report.best_epoch + 1}"
        if report.best_epoch >= 0
        else "the untrained network: no epoch beat repeating the last value"
    )
    print(
        f"preprocessing: {model.pipeline.report.dsf_verdict}; trend {model.pipeline.report.trend}"
    )
    print(
        f"trained {args.column!r} with {mode.used} (asked {mode.requested}) on "
        f"{model.forecaster.device}: {report.steps} steps in {report.seconds:.1f}s, validation "
        f"loss {report.best_validation_loss:.4f} (kept {kept}); saved {args.out}"
    )
