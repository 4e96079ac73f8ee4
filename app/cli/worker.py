"""`linecast worker`: execute queued training runs until stopped (SIGTERM or Ctrl-C)."""

from __future__ import annotations

import argparse
import signal
import threading

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.cli.database import settings as cli_settings
from app.cli.leaving import skip_exit_collections
from app.db.engine import make_engine, session_factory
from app.db.migrate import is_at_head
from app.db.models import TrainingRun
from app.errors import UsageError
from app.jobs.worker import Worker
from app.settings import Settings, normalise_database_url


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="execute queued training runs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--once", action="store_true", help="execute at most one run, then exit")
    add_database_option(parser)
    parser.set_defaults(handler=run)


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", metavar="URL", help="database to use (default LINECAST_DATABASE_URL)"
    )


def service_settings(database_url: str | None) -> Settings:
    """The settings, with `--database-url` in place of the environment's; a database that
    cannot be reached or is not migrated is a usage error, said in one line."""
    settings = cli_settings()
    if database_url is not None:
        try:
            make_url(database_url)
        except SQLAlchemyError as error:
            raise UsageError(f"--database-url: {error}") from error
        settings = settings.model_copy(
            update={"database_url": normalise_database_url(database_url)}
        )
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        migrated = is_at_head(settings.database_url)
    except SQLAlchemyError as error:
        cause = error.orig if isinstance(error, DBAPIError) else error
        lines = str(cause).strip().splitlines()
        raise UsageError(f"{shown}: {lines[0] if lines else type(cause).__name__}") from error
    if not migrated:
        raise UsageError(f"{shown} is not at the newest schema revision; run `linecast migrate`")
    return settings


def describe(run: TrainingRun) -> str:
    """One line on a run's state, for the CLI's output."""
    detail = run.error or run.message or ""
    return f"series {run.series_id}: run {run.id} {run.status}" + (f": {detail}" if detail else "")


def run(args: argparse.Namespace) -> None:
    settings = service_settings(args.database_url)
    with Worker(settings) as worker:
        if args.once:
            if not worker.run_once():
                print("no queued training run")
                return
            print(describe(_reload(settings, worker.last_run_id)))
            return
        stop = threading.Event()
        previous = {
            sig: signal.signal(sig, lambda *_: stop.set())
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        print(f"worker {worker.worker_id} waiting for training runs", flush=True)
        try:
            worker.run_forever(stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        print(f"worker {worker.worker_id} stopped")
    skip_exit_collections()


def _reload(settings: Settings, run_id: int | None) -> TrainingRun:
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            run = session.get(TrainingRun, run_id)
            assert run is not None  # runs are never deleted while a worker holds one
            return run
    finally:
        engine.dispose()
