"""Migrated databases of both kinds the service runs on, and sessions on them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'linecast.db'}"


@pytest.fixture(
    params=[
        pytest.param("postgres_url", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("sqlite_url", id="sqlite"),
    ]
)
def empty_url(request: pytest.FixtureRequest) -> str:
    """A new, empty database of each backend the service runs on."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def migrated_sqlite_url(sqlite_url: str) -> str:
    upgrade(sqlite_url)
    return sqlite_url


@pytest.fixture(
    params=[
        pytest.param("migrated_url", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("migrated_sqlite_url", id="sqlite"),
    ]
)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on a new database migrated to head, of each backend the service runs on.

    PostgreSQL's is a clone of the session's migrated template (tests/fixtures/databases.py).
    """
    engine = make_engine(request.getfixturevalue(request.param))
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session
