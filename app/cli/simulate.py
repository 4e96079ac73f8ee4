"""`linecast simulate`: write a simulated production-line series as CSV, for demos and tests."""

from __future__ import annotations

import argparse
import sys

from app.errors import UsageError
from app.simulator import LineConfig, simulate_line, step_of

# ISO 8601 in UTC; every timestamp the simulator writes is UTC, so the "Z" suffix is exact.
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write a simulated production-line series as CSV",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--freq", default="h", help="pandas step alias: h, 15min, min (default h)")
    parser.add_argument("--days", type=int, default=60, help="length in days (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--covariates", action="store_true", help="add known and observed covariate columns"
    )
    parser.add_argument(
        "--drop-stops", action="store_true", help="drop stop rows instead of writing empty values"
    )
    parser.add_argument(
        "--start", default="2026-01-05", help="first timestamp, read as UTC (default 2026-01-05)"
    )
    parser.add_argument("--out", metavar="PATH", help="CSV file to write (default: stdout)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    config = _config(args)
    frame = simulate_line(config, seed=args.seed)
    if args.out is None:
        frame.to_csv(sys.stdout, date_format=_TIMESTAMP_FORMAT)
        return
    try:
        frame.to_csv(args.out, date_format=_TIMESTAMP_FORMAT)
    except OSError as error:
        raise UsageError(f"cannot write {args.out}: {error.strerror or error}") from error


def _config(args: argparse.Namespace) -> LineConfig:
    """Check the arguments here so the user sees the option's name, not the field's."""
    if args.days <= 0:
        raise UsageError(f"--days must be a positive number of days, got {args.days}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    try:
        step_of(args.freq)
    except ValueError as error:
        raise UsageError(f"--freq: {error}") from error
    try:
        return LineConfig(
            freq=args.freq,
            start=args.start,
            days=args.days,
            covariates=args.covariates,
            drop_stop_rows=args.drop_stops,
        )
    except ValueError as error:
        # Only --start is left unchecked above: pandas refuses it in LineConfig's validation.
        raise UsageError(f"--start: cannot read {args.start!r} as a timestamp") from error
