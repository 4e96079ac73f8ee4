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


@pytest.fixture(params=["postgres_url", "sqlite_url"], ids=["postgresql", "sqlite"])
def empty_url(request: pytest.FixtureRequest) -> str:
    """A new, empty database of each backend the service runs on."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def migrated_url(empty_url: str) -> str:
    upgrade(empty_url)
    return empty_url


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session
