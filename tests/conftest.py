"""Fixtures for the whole suite: a throwaway PostgreSQL database per test that asks for one."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from app.settings import get_settings, normalise_database_url

DEFAULT_TEST_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START_HINT = (
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
    "or point LINECAST_TEST_DATABASE_URL at a server where this user may create databases"
)


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No LINECAST_* variable of the developer's shell, and no settings cached across tests."""
    for name in os.environ:
        if name.startswith("LINECAST_") and name != "LINECAST_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test even if connections remain.

    The database is created on the server of LINECAST_TEST_DATABASE_URL under a random name, so
    tests share nothing. A server that cannot be reached fails the test: a skipped real-database
    test looks like a passing one in a summary.
    """
    server = make_url(
        normalise_database_url(os.environ.get("LINECAST_TEST_DATABASE_URL", DEFAULT_TEST_SERVER))
    )
    name = f"linecast_test_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as error:
        shown = server.render_as_string(hide_password=True)
        message = f"cannot reach PostgreSQL at {shown} ({error.orig}); {START_HINT}"
        pytest.fail(message, pytrace=False)
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
