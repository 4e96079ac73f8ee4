"""The database itself refuses what the service must never store, on both backends."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from app.db.models import Observation, Series, TrainingRun
from tests.factories import new_model_version, new_observation, new_series, new_training_run


def _refused(
    session: Session, *, postgresql: str, sqlite: str
) -> AbstractContextManager[pytest.ExceptionInfo[IntegrityError]]:
    """IntegrityError naming the constraint; SQLite names unique ones by their columns."""
    expected = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return pytest.raises(IntegrityError, match=re.escape(expected))


def _series_id(session: Session) -> int:
    series = new_series()
    session.add(series)
    session.commit()
    return series.id


def test_a_reading_is_stored_once_per_stamp(session: Session) -> None:
    series_id = _series_id(session)
    session.add_all([new_observation(series_id, 0), new_observation(series_id, 1)])
    session.commit()
    session.add(new_observation(series_id, 1, value=2.0))
    with _refused(
        session, postgresql="pk_observations", sqlite="observations.series_id, observations.ts"
    ):
        session.flush()


def test_one_active_version_per_series(session: Session) -> None:
    first, second = _series_id(session), _series_id(session)
    session.add_all(
        [
            new_model_version(first, status="active"),
            new_model_version(first, status="retired"),
            new_model_version(first, status="candidate"),
            new_model_version(second, status="active"),
        ]
    )
    session.commit()
    session.add(new_model_version(first, status="active"))
    with _refused(
        session, postgresql="ix_model_versions_one_active", sqlite="model_versions.series_id"
    ):
        session.flush()


def test_version_numbers_are_unique_per_series(session: Session) -> None:
    series_id = _series_id(session)
    session.add(new_model_version(series_id, version=1))
    session.commit()
    session.add(new_model_version(series_id, version=1))
    with _refused(
        session,
        postgresql="uq_model_versions_series_id_version",
        sqlite="model_versions.series_id, model_versions.version",
    ):
        session.flush()


@pytest.mark.parametrize("second", ["queued", "running"])
@pytest.mark.parametrize("first", ["queued", "running"])
def test_one_open_training_run_per_series(session: Session, first: str, second: str) -> None:
    series_id = _series_id(session)
    session.add(new_training_run(series_id, status=first))
    session.commit()
    session.add(new_training_run(series_id, status=second))
    with _refused(
        session, postgresql="ix_training_runs_one_open", sqlite="training_runs.series_id"
    ):
        session.flush()


def test_a_run_may_be_queued_beside_finished_ones(session: Session) -> None:
    series_id, other_id = _series_id(session), _series_id(session)
    session.add_all(
        [
            new_training_run(series_id, status="succeeded"),
            new_training_run(series_id, status="failed"),
            new_training_run(series_id, status="rejected"),
            new_training_run(series_id, status="queued"),
            new_training_run(other_id, status="running"),
        ]
    )
    session.commit()
    statuses = session.scalars(
        select(TrainingRun.status)
        .where(TrainingRun.series_id == series_id)
        .order_by(TrainingRun.id)
    ).all()
    assert statuses == ["succeeded", "failed", "rejected", "queued"]


@pytest.mark.parametrize(
    ("factory", "fields", "constraint"),
    [
        (new_model_version, {"status": "deleted"}, "ck_model_versions_status_allowed"),
        (new_model_version, {"version": 0}, "ck_model_versions_version_positive"),
        (new_training_run, {"status": "paused"}, "ck_training_runs_status_allowed"),
        (new_training_run, {"trigger": "cron"}, "ck_training_runs_trigger_allowed"),
        (new_training_run, {"progress": 1.5}, "ck_training_runs_progress_fraction"),
    ],
)
def test_check_constraints_refuse_invalid_values(
    session: Session, factory: Callable[..., object], fields: dict[str, object], constraint: str
) -> None:
    session.add(factory(_series_id(session), **fields))
    with _refused(session, postgresql=constraint, sqlite=constraint):
        session.flush()


def test_references_are_enforced_and_deleting_a_series_cascades(session: Session) -> None:
    # On SQLite this holds only because the engine turns foreign keys on per connection.
    session.add(new_observation(series_id=999, hour=0))
    with _refused(
        session, postgresql="fk_observations_series_id_series", sqlite="FOREIGN KEY constraint"
    ):
        session.flush()
    session.rollback()

    series_id = _series_id(session)
    session.add(new_observation(series_id, 0))
    session.commit()
    session.delete(session.get(Series, series_id))
    session.commit()
    assert session.scalars(select(Observation)).all() == []


def test_stamps_read_back_as_aware_utc(session: Session) -> None:
    series_id = _series_id(session)
    berlin = timezone(timedelta(hours=1))
    session.add(new_observation(series_id, 0, ts=datetime(2026, 3, 1, 13, tzinfo=berlin)))
    session.commit()
    session.expunge_all()
    stored = session.scalars(select(Observation.ts)).one()
    assert stored == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert stored.tzinfo is UTC


def test_naive_stamps_are_refused(session: Session) -> None:
    series_id = _series_id(session)
    session.add(new_observation(series_id, 0, ts=datetime(2026, 3, 1, 12)))
    with pytest.raises(StatementError, match="naive datetime 2026-03-01T12:00:00 refused"):
        session.flush()


def test_server_defaults_serve_plain_sql_inserts(session: Session) -> None:
    # SQLite's CURRENT_TIMESTAMP has whole seconds.
    before = datetime.now(UTC).replace(microsecond=0)
    session.execute(text("INSERT INTO series (name, attributes) VALUES ('raw', '{}')"))
    session.commit()
    series = session.scalars(select(Series).where(Series.name == "raw")).one()
    assert series.timezone == "UTC"
    assert series.attributes == {}
    assert series.created_at.tzinfo is UTC
    assert before <= series.created_at <= datetime.now(UTC)
