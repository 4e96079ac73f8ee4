"""`linecast prune`: delete what retention allows, in short batches, as a daily cron job would.

How long predictions and drift rows are kept, and how many retired or rejected models each
series keeps, are settings (`LINECAST_KEEP_PREDICTIONS_DAYS`, `LINECAST_KEEP_DRIFT_DAYS`,
`LINECAST_KEEP_RETIRED_VERSIONS`); `app.services.retention` says what is never deleted.
"""

from __future__ import annotations

import argparse

from app.cli.worker import add_database_option, service_settings
from app.db.engine import make_engine, session_factory
from app.services.retention import DEFAULT_BATCH_SIZE, prune


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prune",
        help="delete old predictions, drift rows and retired models",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=DEFAULT_BATCH_SIZE,
        help=f"rows deleted per transaction (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
    )
    add_database_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    settings = service_settings(args.database_url)
    engine = make_engine(settings.database_url)
    try:
        counts = prune(
            session_factory(engine), settings, batch_size=args.batch_size, dry_run=args.dry_run
        )
    finally:
        engine.dispose()
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {counts.predictions} predictions older than "
        f"{settings.keep_predictions_days:g} days, {counts.drift_metrics} drift metrics older "
        f"than {settings.keep_drift_days:g} days, {counts.drift_jobs} drift jobs finished as "
        f"long ago, {counts.model_versions} retired or rejected model versions beyond the "
        f"newest {settings.keep_retired_versions} of each series"
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value
