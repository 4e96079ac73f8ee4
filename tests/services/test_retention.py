"""Retention deletes exactly what it may, in batches, and the command line says what it did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.cli import main
from app.db.models import DriftJob, DriftMetric, ModelVersion, Prediction, TrainingRun
from app.services.retention import PruneCounts, prune
from app.settings import Settings
from tests.factories import new_model_version, new_series, new_training_run

NOW = datetime(2026, 12, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def retention(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"keep_predictions_days": 30, "keep_drift_days": 60, "keep_retired_versions": 2}
    )


def _prediction(series_id: int, version_id: int, made: datetime, forecast: str) -> Prediction:
    return Prediction(
        series_id=series_id,
        model_version_id=version_id,
        forecast_id=forecast,
        request_id=forecast,
        origin=made,
        ts=made + timedelta(hours=1),
        step=1,
        median=1.0,
        lower=0.0,
        upper=2.0,
        quantiles={},
        created_at=made,
    )


def _drift(series_id: int, computed: datetime) -> DriftMetric:
    return DriftMetric(
        series_id=series_id,
        window_start=computed - DAY,
        window_end=computed,
        kind="data",
        metric="psi",
        value=0.1,
        direction="above",
        status="ok",
        details={},
        computed_at=computed,
    )


def _job(series_id: int, status: str, finished: datetime | None) -> DriftJob:
    return DriftJob(
        batch_id="0" * 32,
        series_id=series_id,
        status=status,
        window_end=NOW - 90 * DAY,
        created_at=NOW - 90 * DAY,
        finished_at=finished,
    )


def _plant(session: Session) -> dict[str, list[int]]:
    """Two series: versions of every status, predictions of several ages, drift rows, drift
    jobs finished long ago and recently, and one that never finished."""
    ids: dict[str, list[int]] = {}
    for series in (new_series(), new_series()):
        session.add(series)
        session.flush()
        versions = [
            new_model_version(series.id, version=number, status=status)
            for number, status in enumerate(
                ["rejected", "retired", "retired", "rejected", "retired", "active", "candidate"],
                start=1,
            )
        ]
        session.add_all(versions)
        session.flush()
        active, old_retired = versions[5], versions[1]  # version 2: past the newest two
        run = new_training_run(series.id, status="rejected", model_version_id=versions[0].id)
        session.add(run)
        session.add_all(
            [
                _prediction(series.id, active.id, NOW - 40 * DAY, f"{series.id}-old"),
                _prediction(series.id, active.id, NOW - 31 * DAY, f"{series.id}-aged"),
                _prediction(series.id, old_retired.id, NOW - 29 * DAY, f"{series.id}-kept"),
                _drift(series.id, NOW - 61 * DAY),
                _drift(series.id, NOW - 59 * DAY),
                _job(series.id, "done", NOW - 61 * DAY),
                _job(series.id, "failed", NOW - 59 * DAY),
                _job(series.id, "running", None),
            ]
        )
        session.flush()
        ids.setdefault("versions", []).extend(v.id for v in versions)
        ids.setdefault("runs", []).append(run.id)
    session.commit()
    return ids


def test_pruning_keeps_recent_rows_restorable_models_and_what_predictions_need(
    sessions: sessionmaker[Session], retention: Settings
) -> None:
    with sessions() as session:
        ids = _plant(session)
    # One row a batch: every batch is its own transaction, and the loop must not stop early.
    counts = prune(sessions, retention, batch_size=1, now=NOW)
    # Per series: the 40- and 31-day-old predictions, the 61-day-old drift row and drift job,
    # and of the retired or rejected versions 1-5 those beyond the newest two (5, 4) that no
    # kept prediction was made with: 1 and 3, not 2.
    assert counts == PruneCounts(predictions=4, drift_metrics=2, model_versions=4, drift_jobs=2)
    with sessions() as session:
        kept = session.scalars(select(Prediction.forecast_id).order_by(Prediction.id)).all()
        assert [forecast.split("-")[1] for forecast in kept] == ["kept", "kept"]
        assert session.scalar(select(func.count(DriftMetric.id))) == 2
        jobs = session.scalars(select(DriftJob.status).order_by(DriftJob.id)).all()
        assert jobs == ["failed", "running"] * 2
        remaining = session.scalars(
            select(ModelVersion.version).order_by(ModelVersion.series_id, ModelVersion.version)
        ).all()
        assert remaining == [2, 4, 5, 6, 7] * 2
        # A pruned version's run stays, pointing at nothing.
        runs = session.scalars(select(TrainingRun).where(TrainingRun.id.in_(ids["runs"]))).all()
        assert [run.model_version_id for run in runs] == [None, None]
    assert prune(sessions, retention, now=NOW) == PruneCounts(0, 0, 0, 0)
    # Two days on, the last predictions made with version 2 are past 30 days: both go.
    assert prune(sessions, retention, now=NOW + 2 * DAY) == PruneCounts(2, 2, 2, 2)


def test_a_dry_run_counts_and_deletes_nothing(
    sessions: sessionmaker[Session], retention: Settings
) -> None:
    with sessions() as session:
        _plant(session)
    before = _row_counts(sessions)
    assert prune(sessions, retention, dry_run=True, now=NOW) == PruneCounts(4, 2, 4, 2)
    assert _row_counts(sessions) == before


def test_the_command_prunes_with_the_settings_retention(
    sessions: sessionmaker[Session],
    migrated_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with sessions() as session:
        _plant(session)
    monkeypatch.setenv("LINECAST_KEEP_RETIRED_VERSIONS", "0")
    # The plant's rows are dated before 2026-12-01, so today every prediction and drift row of
    # it is older than 1 day.
    monkeypatch.setenv("LINECAST_KEEP_PREDICTIONS_DAYS", "1")
    monkeypatch.setenv("LINECAST_KEEP_DRIFT_DAYS", "1")
    assert main(["prune", "--dry-run", "--database-url", migrated_url]) == 0
    assert capsys.readouterr().out.startswith("would delete 6 predictions older than 1 days")
    assert main(["prune", "--batch-size", "2", "--database-url", migrated_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("deleted 6 predictions older than 1 days, 4 drift metrics"), out
    assert "4 drift jobs finished as long ago" in out
    assert "10 retired or rejected model versions beyond the newest 0 of each series" in out
    assert _row_counts(sessions) == {"predictions": 0, "drift": 0, "versions": 4, "jobs": 2}


def test_the_command_refuses_a_batch_size_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["prune", "--batch-size", "0"])
    assert exit_info.value.code == 2
    assert "must be positive, got 0" in capsys.readouterr().err


def _row_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {
            "predictions": session.scalar(select(func.count(Prediction.id))) or 0,
            "drift": session.scalar(select(func.count(DriftMetric.id))) or 0,
            "versions": session.scalar(select(func.count(ModelVersion.id))) or 0,
            "jobs": session.scalar(select(func.count(DriftJob.id))) or 0,
        }
