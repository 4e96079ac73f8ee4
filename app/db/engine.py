"""Engines and sessions, set up the same way for the API, the worker, the CLI and migrations.

SQLite needs three things per connection that it does not do by default: enforce foreign keys
(otherwise ON DELETE CASCADE and every reference silently do nothing), write-ahead logging (so
API readers are not blocked while a training job writes), and a busy timeout (so a second
writer waits for the lock instead of failing at once with "database is locked").
PostgreSQL connections are checked before use, because a pooled one may have been closed by
the server or a proxy while idle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from app.settings import normalise_database_url

SQLITE_BUSY_TIMEOUT_MS = 5_000


def make_engine(url: str | URL) -> Engine:
    """An engine for `url`; `postgres://` URLs are read as psycopg 3 (see the settings)."""
    if isinstance(url, str):
        url = make_url(normalise_database_url(url))
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    _create_sqlite_directory(url)
    engine = create_engine(url)
    event.listen(engine, "connect", _configure_sqlite)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit.

    Without `expire_on_commit=False` every attribute read after a commit would reload the row,
    which fails once the session is closed (e.g. when a handler returns the object).
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


def _create_sqlite_directory(url: URL) -> None:
    # SQLite creates the file but not its directory; the default ./var/ may not exist yet.
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
