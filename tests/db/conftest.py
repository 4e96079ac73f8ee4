"""Migrated databases of both kinds the service runs on, and sessions on them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.settings import get_settings


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
