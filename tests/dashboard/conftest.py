"""A seeded plant for the dashboard's tests, which the shared service (tests/fixtures) serves.

`seeded` fills a migrated PostgreSQL database the way the service would have: a simulated line
with its stops as missing readings, a tiny model trained on it and active, a forecast stored by
the forecasting service with the first three actuals arrived after it, drift metrics with one
alert, training runs in three states, and an archived series whose name is an HTML injection
attempt, with nothing else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.json_values import json_safe
from app.db.models import DriftMetric, Observation, Prediction, TrainingRun
from app.services.backtest import gate_origins, score_for_gate
from app.services.forecasting import ModelCache, forecast_series
from app.services.gate_errors import GateErrors, with_gate_errors
from app.settings import Settings
from model.line_model import FittedLineModel
from tests.factories import new_model_version, new_series, new_training_run

HOSTILE_NAME = "<script>alert(1)</script>"
HORIZON = 6  # the shared tiny model's (tests/fixtures/plant.py)
ARRIVED = 3
# An earlier forecast, from this many readings before the latest one's origin: all arrived.
EARLIER = 2 * HORIZON
ALERT_METRIC = ("performance", "mae")


@dataclass(frozen=True)
class Seeded:
    """Ids and counts of what `seeded` stored, for exact assertions."""

    series_id: int
    hostile_id: int
    active_version_id: int
    request_id: str
    observations: int
    arrived: list[tuple[datetime, float]]
    drift_windows: int
    drift_metrics: int
    candidates: int
    serving: str
    past_forecasts: int
    gate_models: int


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    """The service without its in-process trainer: the seeded queued run must stay queued."""
    return Settings(database_url=migrated_url, in_process_jobs=False)


@pytest.fixture
def seeded(db: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes) -> Seeded:
    with db() as session:
        return seed_plant(session, line, tiny_artifact)


def seed_plant(session: Session, line: pd.DataFrame, artifact: bytes) -> Seeded:
    """Store the plant described in the module docstring; committed."""
    series = new_series(
        name="plant-a/line-1/throughput", plant="plant-a", line="line-1", unit="t/h"
    )
    hostile = new_series(name=HOSTILE_NAME, plant="plant-b", archived_at=datetime.now(UTC))
    session.add_all([series, hostile])
    session.flush()

    # The forecast's origin: the last reading before three consecutive hours of readings.
    stamps = line.index
    cut = max(
        i
        for i in range(len(stamps) - ARRIVED)
        if stamps[i + ARRIVED] - stamps[i] == pd.Timedelta(hours=ARRIVED)
    )
    known, later = line.iloc[: cut + 1], line.iloc[cut + 1 : cut + 1 + ARRIVED]
    session.execute(insert(Observation), _rows(series.id, known))

    retired = new_model_version(series.id, version=1, status="retired", backtest_error=4.1)
    model = FittedLineModel.from_bytes(artifact)
    gate = _gate_errors(model, known)
    active = new_model_version(
        series.id,
        version=2,
        status="active",
        training_mode="dsf",
        artifact=artifact,
        artifact_sha256=hashlib.sha256(artifact).hexdigest(),
        backtest_error=3.25,
        status_reason="backtest error 3.25 beats v1's 4.1",
        promoted_at=stamps[cut].to_pydatetime(),
        selection=json_safe(model.describe()),
        metrics=with_gate_errors({"active_version": 1}, gate),
    )
    session.add_all([retired, active])
    session.commit()

    request_id = "seed-forecast"
    cache = ModelCache()
    forecast_series(
        session=session,
        cache=cache,
        series=series,
        context_frame=known.iloc[:-EARLIER],
        request_id="seed-earlier-forecast",
    )
    forecast_series(session=session, cache=cache, series=series, request_id=request_id)
    session.execute(insert(Observation), _rows(series.id, later))

    windows = _drift_rows(session, series.id, active.id, end=stamps[cut].to_pydatetime())
    finished = stamps[cut].to_pydatetime()
    session.add_all(
        [
            new_training_run(
                series.id,
                status="succeeded",
                progress=1.0,
                message="promoted v2",
                created_at=finished - timedelta(minutes=30),
                started_at=finished - timedelta(minutes=29),
                finished_at=finished - timedelta(minutes=20),
                model_version_id=active.id,
            ),
            new_training_run(
                series.id,
                status="failed",
                progress=0.4,
                message="epoch 2 of 5",
                error="validation loss diverged",
                created_at=finished - timedelta(minutes=10),
                started_at=finished - timedelta(minutes=9),
                finished_at=finished - timedelta(minutes=5),
            ),
            new_training_run(series.id, status="queued", trigger="retrain", created_at=finished),
        ]
    )
    session.commit()
    return Seeded(
        series_id=series.id,
        hostile_id=hostile.id,
        active_version_id=active.id,
        request_id=request_id,
        observations=len(known) + len(later),
        arrived=[(ts.to_pydatetime(), float(value)) for ts, value in later["value"].items()],
        drift_windows=windows,
        drift_metrics=4,
        candidates=len(active.selection["selection"]["candidates"]),
        serving=active.selection["serving"],
        past_forecasts=2,
        gate_models=len(gate.profiles),
    )


def _gate_errors(model: FittedLineModel, frame: pd.DataFrame) -> GateErrors:
    """The tiny model's gate on the seeded readings, as the training job computes it (the
    model saw them: the numbers are in-sample, which a display test does not mind)."""
    origins = gate_origins(frame, model.horizon, spare_rows=len(frame) // 2)
    errors = score_for_gate(model, None, frame, origins).errors
    assert errors is not None
    return errors


def _rows(series_id: int, frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {"series_id": series_id, "ts": ts.to_pydatetime(), "value": float(value)}
        for ts, value in frame["value"].items()
    ]


def _drift_rows(session: Session, series_id: int, version_id: int, end: datetime) -> int:
    """Five daily windows of four metrics; the latest MAE is an alert, PSI stays ok,
    prediction KS warns, and stationarity could not be judged (value None, status unknown)."""
    windows = 5
    for day in range(windows):
        window_end = end - timedelta(days=windows - 1 - day)
        window = {
            "series_id": series_id,
            "model_version_id": version_id,
            "window_start": window_end - timedelta(days=1),
            "window_end": window_end,
            "computed_at": window_end + timedelta(minutes=5),
        }
        mae = 2.0 + 1.5 * day
        session.add_all(
            [
                DriftMetric(
                    **window,
                    kind="performance",
                    metric="mae",
                    value=mae,
                    warn_threshold=5.0,
                    alert_threshold=7.0,
                    direction="above",
                    status="alert" if mae >= 7.0 else "warn" if mae >= 5.0 else "ok",
                    details={"n": 24},
                    action="queued training run" if mae >= 7.0 else None,
                ),
                DriftMetric(
                    **window,
                    kind="data",
                    metric="psi",
                    value=0.02 + 0.01 * day,
                    warn_threshold=0.1,
                    alert_threshold=0.2,
                    direction="above",
                    status="ok",
                    details={"n": 24, "bins": 10},
                ),
                DriftMetric(
                    **window,
                    kind="prediction",
                    metric="ks_statistic",
                    value=0.1 + 0.05 * day,
                    warn_threshold=0.25,
                    alert_threshold=0.4,
                    direction="above",
                    status="warn" if 0.1 + 0.05 * day >= 0.25 else "ok",
                    details={"n": 24},
                ),
                DriftMetric(
                    **window,
                    kind="stationarity",
                    metric="stationarity",
                    value=None,
                    direction="above",
                    status="unknown",
                    details={"reason": "too few residuals for the tests"},
                ),
            ]
        )
    session.commit()
    return windows


def predictions_of(session: Session, request_id: str) -> list[Prediction]:
    query = select(Prediction).where(Prediction.request_id == request_id).order_by(Prediction.step)
    return list(session.scalars(query))


def runs_of(session: Session, series_id: int) -> list[TrainingRun]:
    return list(session.scalars(select(TrainingRun).where(TrainingRun.series_id == series_id)))
