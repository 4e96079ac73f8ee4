"""`linecast serve`: run the REST service with uvicorn, on a database migrated to head.

Serving on an older schema would fail requests one by one with database errors; refusing to
start says what to do instead. Logs are JSON lines on stderr (see `app.logging`).

With several workers, `/metrics` must add up what every worker process counted
(`app.observability`): the processes share a folder for prometheus_client's multiprocess mode,
`PROMETHEUS_MULTIPROC_DIR` if set, else a temporary one that lives as long as the server.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.cli.database import database_url, one_line
from app.cli.leaving import skip_exit_collections
from app.db.migrate import current_revision, head_revision, is_at_head
from app.errors import UsageError
from app.observability import MULTIPROCESS_DIR_VARIABLE

# Seconds a stop waits for requests in flight before cutting them off (each write is one
# transaction: one cut off is rolled back whole). docker-compose.yml's stop_grace_period for
# the API leaves room for this, then the executor's stop (under a second) and the exit.
GRACEFUL_SHUTDOWN_SECONDS = 15


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the REST service", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be 1 to 65535, got {args.port}")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    url = database_url(None)
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        if not is_at_head(url):
            current = current_revision(url) or "no revision"
            raise UsageError(
                f"{shown} is at {current}, not at the newest revision {head_revision()}: "
                "run `linecast migrate` first"
            )
    except SQLAlchemyError as error:
        raise UsageError(f"{shown}: {one_line(error)}") from error
    with shared_metrics_dir(args.workers):
        # An import string and factory=True: each worker process builds its own app, with its
        # own engine, from the same LINECAST_* environment.
        uvicorn.run(
            "app.api.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    skip_exit_collections()


@contextmanager
def shared_metrics_dir(workers: int) -> Iterator[None]:
    """The folder in which the worker processes keep their metrics, emptied first.

    Files left by an earlier server would be added to this one's counts, so a given folder is
    cleared of them. The variable must be in the environment before the workers start: each
    reads it when it imports prometheus_client. One worker needs no folder.
    """
    given = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        yield
    elif workers == 1:
        yield
    else:
        with tempfile.TemporaryDirectory(prefix="linecast-metrics-") as folder:
            os.environ[MULTIPROCESS_DIR_VARIABLE] = folder
            try:
                yield
            finally:
                del os.environ[MULTIPROCESS_DIR_VARIABLE]
