"""`linecast quickstart`: the service on this machine, ready to call, in one command.

What `make run` runs: migrate the database of the settings (the embedded SQLite file by
default), load a simulated production line, train it with the service's defaults
(cross-validation chooses its model), then start the API and print the URL of its docs and a
working curl example with a fresh admin key. Run again, it reuses the series (readings are
upserted) and trains a new version, which the validation gate judges.
"""

from __future__ import annotations

import argparse
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli import serve
from app.cli.database import database_url
from app.db import migrate
from app.db.engine import make_engine, session_factory
from app.db.models import Series, TrainingRun
from app.jobs.execution import execute_run
from app.services.keys import create_api_key
from app.services.observations import Reading, ingest_observations
from app.services.training import TrainingOptions, request_training
from app.settings import get_settings
from app.simulator import LineConfig, simulate_line
from model.config import default_of

SERIES_NAME = "demo-plant/line-1/throughput"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quickstart",
        help="migrate, load a simulated line, train it, serve",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--days", type=int, default=90, help="days of simulated hourly data")
    parser.add_argument(
        "--epochs", type=int, default=default_of("epochs"), help="maximum training epochs"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--no-serve", action="store_true", help="stop after training")
    parser.set_defaults(handler=run, workers=1)


def run(args: argparse.Namespace) -> None:
    url = database_url(None)
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        with sessions() as session:
            series_id = _load_line(session, args.days)
            _, key = create_api_key(
                session=session, name=f"quickstart-{secrets.token_hex(4)}", role="admin"
            )
            options = TrainingOptions(horizon=24, epochs=args.epochs)
            run_row, _ = request_training(
                session=session,
                series_id=series_id,
                trigger="cli",
                options=options,
                requested_by="quickstart",
            )
        print(f"training {SERIES_NAME} (series {series_id}) ...", flush=True)
        execute_run(
            run_row.id, session_factory=sessions, settings=get_settings(), worker_id="quickstart"
        )
        with sessions() as session:
            outcome = session.get(TrainingRun, run_row.id)
            print(f"training run {outcome.id}: {outcome.status}: {outcome.message}")
    finally:
        engine.dispose()
    base = f"http://{args.host}:{args.port}"
    print(
        f"\nAPI docs: {base}/docs\nadmin key (shown once): {key}\n\n"
        f"curl -s -X POST {base}/v1/series/{series_id}/forecast \\\n"
        f"  -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        "  -d '{\"horizon\": 24}'\n",
        flush=True,
    )
    if not args.no_serve:
        serve.run(args)


def _load_line(session: Session, days: int) -> int:
    """The demo series (created once), with the simulated line's readings upserted."""
    series = session.scalar(select(Series).where(Series.name == SERIES_NAME))
    if series is None:
        series = Series(name=SERIES_NAME, unit="units/h", frequency="h", plant="demo-plant")
        session.add(series)
        session.commit()
    values = simulate_line(LineConfig(days=days), seed=0)["throughput"].dropna()
    readings = [
        Reading(row, stamp.to_pydatetime(), float(value))
        for row, (stamp, value) in enumerate(values.items())
    ]
    ingest_observations(
        session=session, series_id=series.id, readings=readings, max_rows=len(readings)
    )
    return series.id
