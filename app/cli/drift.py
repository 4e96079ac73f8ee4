"""`linecast drift`: judge the drift of some or all series now, as a cron job would."""

from __future__ import annotations

import argparse

from app.cli.common import add_series_option
from app.cli.worker import add_database_option, service_settings
from app.db.engine import make_engine, session_factory
from app.db.models import utcnow
from app.errors import UsageError
from app.services.drift import run_drift_all


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "drift", help="judge drift of the active models", description=__doc__.splitlines()[0]
    )
    add_series_option(
        parser, "series to judge (default: every unarchived series with an active model)"
    )
    add_database_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    settings = service_settings(args.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            try:
                counts = run_drift_all(
                    session=session, series_ids=args.series, now=utcnow(), settings=settings
                )
            except LookupError as error:
                raise UsageError(str(error.args[0])) from error
    finally:
        engine.dispose()
    for series_id, worst in counts.worst.items():
        alerting = counts.alerting.get(series_id) or []
        shown = f" ({', '.join(alerting)})" if alerting else ""
        print(f"series {series_id}: {worst}{shown}")
    for series_id, reason in counts.skipped.items():
        print(f"series {series_id}: skipped: {reason}")
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.statuses.items())) or "none"
    print(f"judged {counts.series} series: {counts.metrics} metrics ({tally})")
    for run_id in counts.queued_runs:
        print(f"queued training run {run_id} (the retraining policy is on)")
