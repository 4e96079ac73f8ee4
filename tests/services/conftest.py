"""Migrated PostgreSQL databases with simulated lines in them, and tiny training options.

Models here are tiny (8 units, one layer, a few steps) so a run takes a second or two: the
tests are about what the services store and decide, not about forecast quality.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import ModelVersion, Observation, Series
from app.services.training import TrainingOptions
from app.settings import Settings
from app.simulator import LineConfig, simulate_line
from tests.factories import new_model_version, new_series, tiny_line_model

TINY = TrainingOptions(
    horizon=6, context=24, hidden=8, layers=1, epochs=2, steps_per_epoch=5, seed=0
)


@pytest.fixture
def database_url(postgres_url: str) -> str:
    upgrade(postgres_url)
    return postgres_url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        heartbeat_seconds=0.5,
        stale_after_seconds=30.0,
        worker_poll_seconds=0.1,
        retrain_margin=0.02,
    )


@pytest.fixture(scope="session")
def line() -> pd.DataFrame:
    """20 days of one simulated line, hourly, as observations: stops are absent rows."""
    frame = simulate_line(LineConfig(days=20), seed=3)
    return frame[["throughput"]].dropna().rename(columns={"throughput": "value"})


@pytest.fixture(scope="session")
def tiny_artifacts(line: pd.DataFrame) -> tuple[bytes, bytes]:
    """Two saved tiny line models of `line`, for tests that need versions but not runs.

    The second is fitted without the last three days, so its preprocessing, and with it its
    forecasts, differ from the first's (a few training steps alone may leave two networks at
    the same repeat-last start).
    """
    first, second = (tiny_line_model(data) for data in (line, line.iloc[:-72]))
    return first.to_bytes(), second.to_bytes()


@pytest.fixture(scope="session")
def tiny_artifact(tiny_artifacts: tuple[bytes, bytes]) -> bytes:
    return tiny_artifacts[0]


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
