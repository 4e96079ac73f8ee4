"""`linecast retrain`: queue training runs for some or all series, and optionally execute them."""

from __future__ import annotations

import argparse

from app.cli.common import add_series_option
from app.cli.worker import add_database_option, describe, service_settings
from app.db.engine import make_engine, session_factory
from app.db.models import TrainingRun
from app.errors import UsageError
from app.jobs.execution import execute_run
from app.jobs.worker import default_worker_id
from app.services.training import request_retraining


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retrain", help="queue training runs", description=__doc__.splitlines()[0]
    )
    add_series_option(
        parser, "series to retrain (default: every unarchived series with a model or enough data)"
    )
    parser.add_argument(
        "--warm-start", action="store_true", help="start from the active model's weights"
    )
    parser.add_argument(
        "--wait", action="store_true", help="execute the runs here and print their outcomes"
    )
    add_database_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    settings = service_settings(args.database_url)
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        with sessions() as session:
            try:
                requested = request_retraining(
                    session=session,
                    series_ids=args.series,
                    warm_start=args.warm_start,
                    requested_by="linecast retrain",
                    trigger="cli",
                )
            except (LookupError, ValueError) as error:
                raise UsageError(str(error)) from error
        if not requested.runs:
            print("nothing to retrain: no unarchived series has a model or enough data")
        for queued in requested.runs:
            state = "queued" if queued.created else f"already {queued.status}"
            print(f"series {queued.series_id}: run {queued.run_id} {state}")
        for series_id, reason in requested.skipped.items():
            print(f"series {series_id}: skipped: {reason}")
        if not args.wait:
            return
        worker_id = f"{default_worker_id()}:retrain"
        for queued in requested.runs:
            execute_run(
                queued.run_id, session_factory=sessions, settings=settings, worker_id=worker_id
            )
            with sessions() as session:
                final = session.get(TrainingRun, queued.run_id)
                assert final is not None  # runs are never deleted
                print(describe(final))
    finally:
        engine.dispose()
