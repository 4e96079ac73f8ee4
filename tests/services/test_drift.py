"""Drift runs on PostgreSQL: a level shift alerts, a quiet line stays quiet, runs are idempotent
per window, the retraining policy acts once and says so, and uploads score arrived actuals."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import DriftMetric, ModelVersion, Observation, Series, TrainingRun
from app.drift.measure import DISTRIBUTION_METRICS, PERFORMANCE_METRICS, RATIO_METRICS
from app.jobs.execution import execute_run
from app.services.drift import (
    DRIFT_REQUESTER,
    drift_after_ingest,
    drift_rows,
    drift_summary,
    run_drift,
    run_drift_all,
)
from app.services.forecasting import ModelCache, forecast_series
from app.services.observations import Reading, ingest_observations
from app.services.training import TrainingOptions, request_training
from app.settings import Settings
from app.simulator import LineConfig, simulate_line
from preprocessing.pipeline import PreprocessingError
from tests.factories import tiny_line_model
from tests.services.conftest import add_series, add_version

ALL_METRICS = len(PERFORMANCE_METRICS) + len(RATIO_METRICS) + 2 * len(DISTRIBUTION_METRICS) + 1
# The key scenario: four weeks to train on, then a quiet week and a week raised by 25 %.
SEEDS = range(6)
TRAIN_DAYS = 28
SHIFT = 0.25


def _training_end(line: pd.DataFrame, days_before_end: int) -> str:
    return line.index[-1 - days_before_end * 24].isoformat()


def _version(session: Session, series_id: int, artifact: bytes, training_end: str) -> int:
    version = add_version(
        session,
        series_id,
        artifact,
        status="active",
        config={"horizon": 6, "context": 24, "hidden": 8, "layers": 1},
        metrics={"training_end": training_end, "backtest_mae": 3.0},
        preprocessing={"after": {"verdict": "stationary"}},
    )
    return version.id


def _shifted(line: pd.DataFrame, days: int, factor: float = 1 + SHIFT) -> pd.DataFrame:
    raised = line.copy()
    raised.iloc[-days * 24 :] *= factor
    return raised


def _serve(
    session: Session, series: Series, readings: pd.Series, origins: pd.DatetimeIndex, tag: str
) -> int:
    """Forecast from each origin with the readings up to it, as a client would; the count."""
    cache, served = ModelCache(), 0
    for number, origin in enumerate(origins):
        context = readings.loc[:origin].iloc[-72:].to_frame("value")
        try:
            forecast_series(
                session=session,
                cache=cache,
                series=series,
                context_frame=context,
                request_id=f"{tag}-{number}",
            )
        except PreprocessingError:  # the context lies in a stop; the service answers 422
            continue
        served += 1
    return served


def _alerts(rows: list[DriftMetric]) -> list[str]:
    return [f"{row.kind}/{row.metric}" for row in rows if row.status == "alert"]


# -- the key scenario --------------------------------------------------------------------------


def _scenario(
    sessions: sessionmaker[Session], settings: Settings, seed: int
) -> tuple[list[DriftMetric], list[DriftMetric]]:
    """One seed: train on four weeks, serve two more (the second raised), judge each week."""
    readings = simulate_line(LineConfig(days=TRAIN_DAYS + 14), seed=seed)["throughput"].dropna()
    start = readings.index[0]
    train_end = start + pd.Timedelta(days=TRAIN_DAYS)
    shift_at = train_end + pd.Timedelta(days=7)
    readings.loc[readings.index >= shift_at] *= 1 + SHIFT
    with sessions() as session:
        series = add_series(session, readings.loc[:train_end].iloc[:-1].to_frame("value"))
        # The GRU alone, as in bench/drift.py: what is measured is the monitor, on one kind of
        # model (its thresholds were calibrated against it).
        options = TrainingOptions(
            horizon=6,
            context=24,
            hidden=8,
            layers=1,
            epochs=2,
            steps_per_epoch=5,
            seed=seed,
            candidates=["gru"],
        )
        run, _ = request_training(
            session=session, series_id=series.id, trigger="api", options=options, requested_by="t"
        )
    execute_run(run.id, session_factory=sessions, settings=settings, worker_id="test")
    later = readings.loc[train_end:]
    with sessions() as session:
        assert session.get(TrainingRun, run.id).status == "succeeded"
        rows = [
            {"series_id": series.id, "ts": ts.to_pydatetime(), "value": float(value)}
            for ts, value in later.items()
        ]
        session.execute(insert(Observation), rows)
        session.commit()
        origins = pd.date_range(train_end, later.index[-1], freq="6h", inclusive="left")
        assert _serve(session, series, readings, origins, f"seed-{seed}") > 40
        quiet = run_drift(
            session=session,
            series=series,
            now=(shift_at - pd.Timedelta(hours=1)).to_pydatetime(),
            settings=settings,
        )
        shifted = run_drift(
            session=session, series=series, now=later.index[-1].to_pydatetime(), settings=settings
        )
    return quiet, shifted


@pytest.mark.slow
def test_a_level_shift_alerts_and_the_same_line_without_it_stays_quiet(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    false_alerts, detections = [], []
    for seed in SEEDS:
        quiet, shifted = _scenario(sessions, settings, seed)
        assert len(quiet) == len(shifted) == ALL_METRICS
        # Every kind was judged: the forecasts served give performance and prediction drift.
        assert {row.kind for row in quiet if row.status != "unknown"} == {
            "performance",
            "data",
            "stationarity",
            "prediction",
        }
        calibrated = [row for row in quiet if row.details.get("thresholds", {}).get("source")]
        assert any(row.details["thresholds"]["source"] == "calibrated" for row in calibrated)
        false_alerts.append(_alerts(quiet))
        detections.append(_alerts(shifted))
        # A level shift is what the mean shift is for; it must be among the alerts.
        assert "data/mean_shift" in detections[-1], (seed, detections[-1])
    quiet_with_alerts = sum(bool(alerts) for alerts in false_alerts)
    print(
        f"\ndrift on {len(SEEDS)} seeds: quiet weeks with an alert {quiet_with_alerts}/"
        f"{len(SEEDS)} {false_alerts}; +{SHIFT:.0%} weeks detected "
        f"{sum(bool(a) for a in detections)}/{len(SEEDS)}"
    )
    assert all(detections)
    # bench/drift.py measured 2 quiet weeks with an alert in 30 seeds (none in seeds 0-9).
    assert quiet_with_alerts <= 1


# -- runs, windows, storage --------------------------------------------------------------------


@pytest.fixture
def sqlite_sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'linecast.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_run_repeated_over_the_same_window_updates_its_rows(
    backend: str,
    request: pytest.FixtureRequest,
    line: pd.DataFrame,
    tiny_artifact: bytes,
    settings: Settings,
) -> None:
    sessions = request.getfixturevalue("sessions" if backend == "postgresql" else "sqlite_sessions")
    with sessions() as session:
        series = add_series(session, line.iloc[:-24])
        version_id = _version(session, series.id, tiny_artifact, _training_end(line, 6))
        now = line.index[-1].to_pydatetime()
        first = run_drift(session=session, series=series, now=now, settings=settings)
        assert len(first) == ALL_METRICS
        assert {row.model_version_id for row in first} == {version_id}
        second = run_drift(session=session, series=series, now=now, settings=settings)
        assert [row.id for row in second] == [row.id for row in first]
        assert all(b.computed_at >= a.computed_at for a, b in zip(first, second, strict=True))
        assert session.scalar(select(func.count()).select_from(DriftMetric)) == ALL_METRICS
        # New readings make a new window: new rows, the old ones kept as history.
        tail = line.iloc[-24:]
        session.execute(
            insert(Observation),
            [
                {"series_id": series.id, "ts": ts.to_pydatetime(), "value": float(v)}
                for ts, v in tail["value"].items()
            ],
        )
        session.commit()
        third = run_drift(session=session, series=series, now=now, settings=settings)
        assert third[0].window_end > first[0].window_end
        assert session.scalar(select(func.count()).select_from(DriftMetric)) == 2 * ALL_METRICS


def test_a_window_ends_at_now_and_starts_after_the_training_data(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series = add_series(session, line)
        _version(session, series.id, tiny_artifact, _training_end(line, 10))
        now = line.index[-1 - 24]
        rows = run_drift(session=session, series=series, now=now.to_pydatetime(), settings=settings)
    window = line.loc[(line.index > line.index[-1 - 240]) & (line.index <= now)].iloc[-168:]
    assert {(row.window_start, row.window_end) for row in rows} == {
        (window.index[0].to_pydatetime(), window.index[-1].to_pydatetime())
    }
    data = {row.metric: row for row in rows if row.kind == "data"}
    assert data["psi"].details["window_points"] == 168
    assert data["psi"].details["reference"]["training_end"] == _training_end(line, 10)


def test_there_is_nothing_to_judge_without_a_model_or_new_readings(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series = add_series(session, line)
        now = line.index[-1].to_pydatetime()
        assert run_drift(session=session, series=series, now=now, settings=settings) == []
        _version(session, series.id, tiny_artifact, line.index[-1].isoformat())
        assert run_drift(session=session, series=series, now=now, settings=settings) == []
        counts = run_drift_all(session=session, series_ids=[series.id], now=now, settings=settings)
    assert counts.series == 0
    assert "no reading after v" in counts.skipped[series.id]


def test_what_cannot_be_computed_is_stored_unknown_with_the_reason(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    # No forecast was served: no performance and no prediction drift, each row saying why.
    with sessions() as session:
        series = add_series(session, line)
        _version(session, series.id, tiny_artifact, _training_end(line, 6))
        rows = run_drift(
            session=session, series=series, now=line.index[-1].to_pydatetime(), settings=settings
        )
    unknown = [row for row in rows if row.kind in ("performance", "prediction")]
    assert unknown and all(row.status == "unknown" and row.value is None for row in unknown)
    reasons = {row.kind: row.details["reason"] for row in unknown}
    assert reasons["performance"] == (
        "0 forecast steps with actuals in the window; at least 30 are needed"
    )
    assert reasons["prediction"].startswith("0 values in the window")
    assert all(row.status != "unknown" for row in rows if row.kind == "data")


def test_a_short_reference_falls_back_to_the_documented_defaults_and_says_so(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series = add_series(session, line)
        _version(session, series.id, tiny_artifact, _training_end(line, 6))
        short = settings.model_copy(update={"drift_reference_steps": 200})
        rows = run_drift(
            session=session, series=series, now=line.index[-1].to_pydatetime(), settings=short
        )
    psi = next(row for row in rows if (row.kind, row.metric) == ("data", "psi"))
    assert (psi.warn_threshold, psi.alert_threshold, psi.direction) == (0.1, 0.2, "above")
    assert psi.details["thresholds"]["source"] == "default"
    assert psi.details["calibration"]["calibrated"] is False
    assert "calibration needs 3 windows of 144" in psi.details["calibration"]["reason"]


# -- the retraining policy ---------------------------------------------------------------------


def test_the_policy_is_off_by_default(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series = add_series(session, _shifted(line, 4))
        _version(session, series.id, tiny_artifact, _training_end(line, 4))
        rows = run_drift(
            session=session, series=series, now=line.index[-1].to_pydatetime(), settings=settings
        )
        assert _alerts(rows)
        assert all(row.action is None and row.training_run_id is None for row in rows)
        assert session.scalar(select(func.count()).select_from(TrainingRun)) == 0


def test_an_alert_queues_one_retraining_run_and_the_rows_say_so(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    policy = settings.model_copy(update={"drift_auto_retrain": True})
    shifted = _shifted(line, 4)
    with sessions() as session:
        series = add_series(session, shifted.iloc[:-12])
        _version(session, series.id, tiny_artifact, _training_end(line, 4))
        now = line.index[-1].to_pydatetime()
        rows = run_drift(session=session, series=series, now=now, settings=policy)
        run = session.scalars(select(TrainingRun)).one()
        assert (run.trigger, run.requested_by, run.status) == ("retrain", DRIFT_REQUESTER, "queued")
        assert run.config["hidden"] == 8  # the active version's options
        alerting = [row for row in rows if row.status == "alert"]
        assert alerting and all(
            (row.action, row.training_run_id) == (f"queued training run {run.id}", run.id)
            for row in alerting
        )
        assert all(row.action is None for row in rows if row.status != "alert")

        # The same window again: the open run is found, not a second one queued.
        again = run_drift(session=session, series=series, now=now, settings=policy)
        assert {row.action for row in again if row.status == "alert"} == {
            f"already queued: training run {run.id}"
        }
        # Once that run has ended (its candidate rejected), a later window queues no other.
        session.execute(update(TrainingRun).values(status="rejected"))
        session.commit()
        session.execute(
            insert(Observation),
            [
                {"series_id": series.id, "ts": ts.to_pydatetime(), "value": float(value)}
                for ts, value in shifted["value"].iloc[-12:].items()
            ],
        )
        session.commit()
        later = run_drift(session=session, series=series, now=now, settings=policy)
        assert session.scalar(select(func.count()).select_from(TrainingRun)) == 1
        assert {row.action for row in later if row.status == "alert"} == {
            f"not queued: retraining run {run.id} after drift of v"
            f"{rows[0].details['model_version']} already ended rejected"
        }


# -- after an upload ---------------------------------------------------------------------------


def _served_series(
    session: Session, line: pd.DataFrame, tiny_artifact: bytes, hours: int
) -> tuple[Series, pd.DataFrame]:
    """A series missing its last `hours` readings, with forecasts served for them; the rest."""
    series = add_series(session, line.iloc[:-hours])
    _version(session, series.id, tiny_artifact, _training_end(line, 7))
    unseen = line.iloc[-hours:]
    origins = line.index[-hours - 1 : -1 : 6]
    _serve(session, series, line["value"], origins, "ingest")
    return series, unseen


def test_an_upload_of_actuals_judges_the_performance_of_their_forecasts(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series, unseen = _served_series(session, line, tiny_artifact, hours=48)
        readings = [
            Reading(i, ts.to_pydatetime(), v) for i, (ts, v) in enumerate(unseen["value"].items())
        ]
        ingest_observations(session=session, series_id=series.id, readings=readings, max_rows=100)
        outcome = drift_after_ingest(
            session=session,
            series_id=series.id,
            first=readings[0].ts,
            last=readings[-1].ts,
            settings=settings,
        )
        assert outcome is not None and outcome.queued_run_id is None
        assert {row.kind for row in outcome.rows} == {"performance"}
        mae = next(row for row in outcome.rows if row.metric == "mae")
        assert mae.status != "unknown" and mae.details["pairs"] >= 30
        assert mae.window_end == readings[-1].ts
        assert mae.details["validation"].startswith("forecasts over the")
        stored = drift_rows(session=session, series_id=series.id, kind="performance")
        assert sorted(row.id for row in stored) == sorted(row.id for row in outcome.rows)


def test_an_upload_without_actuals_of_forecasts_costs_one_count(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series = add_series(session, line.iloc[:-48])
        _version(session, series.id, tiny_artifact, _training_end(line, 7))
        first, last = line.index[-48].to_pydatetime(), line.index[-1].to_pydatetime()
        assert (
            drift_after_ingest(
                session=session, series_id=series.id, first=first, last=last, settings=settings
            )
            is None
        )
        assert session.scalar(select(func.count()).select_from(DriftMetric)) == 0


def test_a_failing_drift_after_an_upload_is_logged_and_never_raised(
    sessions: sessionmaker[Session],
    settings: Settings,
    line: pd.DataFrame,
    tiny_artifact: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with sessions() as session:
        series, unseen = _served_series(session, line, tiny_artifact, hours=48)
        session.execute(
            insert(Observation),
            [
                {"series_id": series.id, "ts": ts.to_pydatetime(), "value": float(v)}
                for ts, v in unseen["value"].items()
            ],
        )
        session.commit()
        # A corrupted artifact: the model cannot be loaded to score the forecasts.
        session.execute(update(ModelVersion).values(artifact_sha256="0" * 64))
        session.commit()
        with caplog.at_level(logging.ERROR, logger="app.services.drift"):
            outcome = drift_after_ingest(
                session=session,
                series_id=series.id,
                first=unseen.index[0].to_pydatetime(),
                last=unseen.index[-1].to_pydatetime(),
                settings=settings,
            )
        assert outcome is None
        assert "the upload is stored" in caplog.text
        assert session.scalar(select(func.count()).select_from(Observation)) == len(line)


# -- several series, the summary, the table's own rules ----------------------------------------


def test_a_scheduled_run_judges_every_active_series_and_reports_the_others(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    now = line.index[-1].to_pydatetime()
    with sessions() as session:
        judged = add_series(session, _shifted(line, 4))
        _version(session, judged.id, tiny_artifact, _training_end(line, 4))
        untrained = add_series(session, line)
        archived = add_series(session, line)
        _version(session, archived.id, tiny_artifact, _training_end(line, 4))
        session.execute(
            update(Series).where(Series.id == archived.id).values(archived_at=func.now())
        )
        session.commit()
        counts = run_drift_all(session=session, series_ids=None, now=now, settings=settings)
        assert (counts.series, counts.metrics) == (1, ALL_METRICS)
        assert counts.worst == {judged.id: "alert"} and counts.alerting[judged.id]
        assert sum(counts.statuses.values()) == ALL_METRICS
        given = run_drift_all(
            session=session, series_ids=[untrained.id, archived.id], now=now, settings=settings
        )
        assert given.skipped == {
            untrained.id: f"series {untrained.id} has no active model",
            archived.id: f"series {archived.id} is archived",
        }
        with pytest.raises(LookupError, match="series 999999 not found"):
            run_drift_all(session=session, series_ids=[999_999], now=now, settings=settings)

        summary = {entry.series.id: entry for entry in drift_summary(session=session)}
    assert set(summary) == {judged.id, untrained.id}  # archived series are left out
    assert summary[judged.id].status == "alert"
    assert len(summary[judged.id].latest) == ALL_METRICS
    assert summary[untrained.id].status is None and summary[untrained.id].latest == []


def test_the_table_refuses_unknown_statuses_and_a_second_row_for_one_window(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series = add_series(session, line.iloc[:100])
        version_id = _version(session, series.id, tiny_artifact, line.index[50].isoformat())
        row = {
            "series_id": series.id,
            "model_version_id": version_id,
            "window_start": line.index[60].to_pydatetime(),
            "window_end": line.index[90].to_pydatetime(),
            "kind": "data",
            "metric": "psi",
            "value": 0.05,
            "direction": "above",
            "status": "ok",
            "details": {},
        }
        session.add(DriftMetric(**{**row, "status": "fine"}))
        with pytest.raises(IntegrityError, match="ck_drift_metrics_status_allowed"):
            session.flush()
        session.rollback()
        session.add(DriftMetric(**row))
        session.commit()
        session.add(DriftMetric(**{**row, "value": 0.07}))
        with pytest.raises(IntegrityError, match="uq_drift_metrics_window"):
            session.flush()
        session.rollback()
        backwards = {**row, "window_start": row["window_end"], "window_end": row["window_start"]}
        session.add(DriftMetric(**{**backwards, "metric": "ks_statistic"}))
        with pytest.raises(IntegrityError, match="ck_drift_metrics_window_ordered"):
            session.flush()


def test_calibrated_rows_record_their_null_distribution(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    # Five weeks of a line, the model's data ending a week before the end: a month of
    # reference, enough for chunks of a week.
    readings = simulate_line(LineConfig(days=35), seed=5)["throughput"].dropna()
    frame = readings.to_frame("value")
    with sessions() as session:
        series = add_series(session, frame)
        artifact_line = frame.iloc[: -7 * 24]
        model = tiny_line_model(artifact_line, steps_per_epoch=3)
        _version(session, series.id, model.to_bytes(), artifact_line.index[-1].isoformat())
        rows = run_drift(
            session=session, series=series, now=frame.index[-1].to_pydatetime(), settings=settings
        )
    psi = next(row for row in rows if (row.kind, row.metric) == ("data", "psi"))
    calibration = psi.details["calibration"]
    assert calibration["calibrated"] is True and calibration["chunks"] >= 9
    assert calibration["null_min"] <= calibration["null_median"] <= calibration["null_max"]
    assert psi.details["thresholds"]["source"] == "calibrated"
    assert psi.warn_threshold > calibration["null_median"]
    stationarity = next(row for row in rows if row.kind == "stationarity")
    assert stationarity.details["training_verdict"] == "stationary"
    assert stationarity.details["verdict"] != "insufficient data"
    assert np.isfinite(stationarity.value)
