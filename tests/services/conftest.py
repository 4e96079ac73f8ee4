"""Settings for the services and the worker, tiny training options, and rows to store; the
databases, the simulated line and its tiny models are the suite's (tests/fixtures/).

Models here are tiny (8 units, one layer, a few steps) so a run takes a second or two: the
tests are about what the services store and decide, not about forecast quality.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import ModelVersion, Observation, Series
from app.services.training import TrainingOptions
from app.settings import Settings
from tests.factories import new_model_version, new_series

TINY = TrainingOptions(
    horizon=6, context=24, hidden=8, layers=1, epochs=2, steps_per_epoch=5, seed=0
)


@pytest.fixture
def sqlite_sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated SQLite file: the embedded default, whose SQL differs in places."""
    url = f"sqlite:///{tmp_path / 'linecast.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def any_sessions(request: pytest.FixtureRequest) -> sessionmaker[Session]:
    """Sessions on a migrated database of each backend the service runs on."""
    name = "sessions" if request.param == "postgresql" else "sqlite_sessions"
    return request.getfixturevalue(name)


@pytest.fixture
def sessions(db: sessionmaker[Session]) -> sessionmaker[Session]:
    """The shared `db` under the name these tests use: a factory of sessions, as services take."""
    return db


@pytest.fixture
def settings(migrated_url: str) -> Settings:
    return Settings(
        database_url=migrated_url,
        heartbeat_seconds=0.5,
        stale_after_seconds=30.0,
        worker_poll_seconds=0.1,
        retrain_margin=0.02,
    )


def add_version(session: Session, series_id: int, artifact: bytes, **fields: Any) -> ModelVersion:
    """A stored version holding `artifact` (its real sha256 unless given); committed."""
    sha256 = hashlib.sha256(artifact).hexdigest()
    version = new_model_version(
        series_id, **{"artifact": artifact, "artifact_sha256": sha256, **fields}
    )
    session.add(version)
    session.commit()
    return version


def add_series(session: Session, frame: pd.DataFrame, **fields: Any) -> Series:
    """A series holding `frame`'s "value" column as observations; committed."""
    series = new_series(**fields)
    session.add(series)
    session.flush()
    rows = [
        {"series_id": series.id, "ts": ts.to_pydatetime(), "value": float(value)}
        for ts, value in frame["value"].items()
    ]
    if rows:
        session.execute(insert(Observation), rows)
    session.commit()
    return series
