"""Global models in the service: a run gates every series of its scope, cold starts are served
from the first week, a global-backed version rolls back like any other, a corrupted global
artifact never loads, and local training and drift work beside one. Real training (tiny,
seeded), on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import (
    GlobalModelVersion,
    GlobalRun,
    ModelVersion,
    Prediction,
    Series,
    TrainingRun,
    utcnow,
)
from app.jobs.execution import execute_run
from app.jobs.global_execution import execute_global_run
from app.services.drift import evaluate_drift
from app.services.forecasting import ModelCache, forecast_series
from app.services.global_models import GlobalOptions, request_global_training
from app.services.registry import (
    ArtifactIntegrityError,
    active_version,
    list_versions,
    load_model,
    promote,
)
from app.services.training import TrainingOptions, request_training
from app.settings import Settings
from app.simulator import LineConfig, simulate_line
from model.global_model import COLD_START, SEEN
from tests.services.conftest import TINY, add_series, add_version

PLANT = "plant-g"
# Tiny and seeded: these tests are about what is stored, gated and served.
OPTIONS = {
    "horizon": 6,
    "context": 24,
    "hidden": 8,
    "epochs": 1,
    "steps_per_epoch": 3,
    "embedding": 2,
    "seed": 0,
}


def _line(days: int, seed: int) -> pd.DataFrame:
    """Hourly throughput of a simulated line as observations (stops are absent rows)."""
    frame = simulate_line(LineConfig(days=days), seed=seed)[["throughput"]].dropna()
    return frame.rename(columns={"throughput": "value"})


def _train_global(sessions: sessionmaker[Session], settings: Settings) -> GlobalRun:
    """Queue and execute a global run for the plant; the finished run."""
    options = GlobalOptions(name=PLANT, plant=PLANT, **OPTIONS)
    with sessions() as session:
        run, created = request_global_training(
            session=session, options=options, trigger="api", requested_by="test"
        )
    assert created
    execute_global_run(run.id, session_factory=sessions, settings=settings, worker_id="test")
    with sessions() as session:
        finished = session.get(GlobalRun, run.id)
        assert finished is not None
        assert finished.status in ("succeeded", "rejected"), finished.error
        return finished


@pytest.fixture
def sqlite_sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'linecast.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(
    params=[
        pytest.param("sessions", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("sqlite_sessions", id="sqlite"),
    ]
)
def any_sessions(request: pytest.FixtureRequest) -> sessionmaker[Session]:
    """Sessions on a migrated database of each backend the service runs on."""
    return request.getfixturevalue(request.param)


def _strict(settings: Settings) -> Settings:
    """The gate demands a 99 % lower error than the active model's: no replacement passes."""
    return settings.model_copy(update={"retrain_margin": 0.99})


@pytest.mark.slow
def test_a_run_gates_every_member_and_serves_its_cold_starts(
    any_sessions: sessionmaker[Session], settings: Settings, tiny_artifact: bytes
) -> None:
    sessions = any_sessions
    with sessions() as session:
        fresh = add_series(session, _line(10, 0), plant=PLANT, line="l1").id
        modelled = add_series(session, _line(10, 1), plant=PLANT, line="l2").id
        add_version(session, modelled, tiny_artifact, version=1, status="active", config={})
        short = add_series(session, _line(3, 3), plant=PLANT, line="l3").id
        other = add_series(session, _line(10, 3), plant="plant-h").id

    run = _train_global(sessions, _strict(settings))

    with sessions() as session:
        stored = session.scalars(select(GlobalModelVersion)).one()
        assert run.status == "succeeded" and run.global_model_id == stored.id
        assert (stored.name, stored.version, stored.status) == (PLANT, 1, "active")
        assert stored.selector == {"plant": PLANT, "line": None}
        metrics = stored.metrics
        assert (metrics["trained_on"], metrics["cold_starts"], metrics["gated"]) == (2, 1, 2)
        assert (metrics["promoted"], metrics["rejected"], metrics["cold_starts_served"]) == (
            1,
            1,
            1,
        )
        versions = {
            v.series_id: v
            for v in session.scalars(
                select(ModelVersion).where(ModelVersion.global_model_id.is_not(None))
            )
        }
        assert set(versions) == {fresh, modelled, short}
        for version in versions.values():
            assert version.training_mode == "global" and version.artifact == b""
            assert version.artifact_sha256 == stored.artifact_sha256
            TrainingOptions.model_validate(version.config)  # a local retrain can read it
        first = versions[fresh]
        assert first.status == "active" and first.version == 1
        assert first.status_reason.startswith("first model: gru:global backtest MSE")
        assert first.metrics["training_end"] and first.metrics["backtest_origins"] > 0
        kept = versions[modelled]
        assert kept.status == "rejected" and kept.version == 2
        assert (
            "does not beat active v1" in kept.status_reason and "99% margin" in kept.status_reason
        )
        assert active_version(session=session, series_id=modelled).version == 1
        cold = versions[short]
        assert cold.status == "active" and cold.status_reason.startswith("cold start: ")
        assert cold.metrics["cold_start"] is True
        assert list_versions(session=session, series_id=other) == []

        cache = ModelCache()
        for series_id, model in ((fresh, SEEN), (short, COLD_START)):
            result = forecast_series(
                session=session, cache=cache, series=_series(session, series_id), request_id="r"
            )
            assert (result.model, result.model_version_id) == (model, versions[series_id].id)
        # One global model in the cache for both series, weighing its artifact once.
        assert len(cache) == 1 and cache.bytes == len(_artifact(session, stored.id))

        # Drift of a series served by the global model reads it through its view.
        evaluation = evaluate_drift(
            session=session, series=_series(session, fresh), now=utcnow(), settings=settings
        )
        assert evaluation.version.id == first.id
        [stationarity] = [m for m in evaluation.measured if m.metric == "stationarity"]
        assert stationarity.value is not None


@pytest.mark.slow
def test_a_new_series_of_the_scope_is_forecast_from_its_first_week(
    any_sessions: sessionmaker[Session], settings: Settings, tiny_artifact: bytes
) -> None:
    sessions = any_sessions
    with sessions() as session:
        for seed in (0, 1):
            add_series(session, _line(10, seed), plant=PLANT, line=f"l{seed}")
    assert _train_global(sessions, settings).status == "succeeded"
    cache = ModelCache()
    with sessions() as session:
        week = _line(7, 5)
        new = add_series(session, week, plant=PLANT, line="new")
        first = forecast_series(session=session, cache=cache, series=new, request_id="a")
        again = forecast_series(session=session, cache=cache, series=new, request_id="b")
        assert first.model == COLD_START and len(first.stamps) == OPTIONS["horizon"]
        assert first.origin == week.index[-1]
        version = active_version(session=session, series_id=new.id)
        assert version is not None and version.id == first.model_version_id
        assert (
            again.model_version_id == version.id
            and len(list_versions(session=session, series_id=new.id)) == 1
        )
        assert version.status_reason.startswith("cold start")
        assert version.global_model_id is not None and version.metrics["cold_start"] is True
        stored = session.scalars(
            select(Prediction.model_version_id).where(Prediction.series_id == new.id)
        )
        assert set(stored) == {version.id}
        # Its pipeline (what drift tests its readings through) is fitted on its readings.
        assert cache.get(version).pipeline.params is not None

        outside = add_series(session, week, plant="plant-x")
        with pytest.raises(LookupError, match="has no active model"):
            forecast_series(session=session, cache=cache, series=outside, request_id="c")
        # A series whose model an operator retired stays unserved until one is promoted.
        retired = add_series(session, week, plant=PLANT, line="retired")
        add_version(session, retired.id, tiny_artifact, version=1, status="retired")
        with pytest.raises(LookupError, match="has no active model"):
            forecast_series(session=session, cache=cache, series=retired, request_id="d")


@pytest.mark.slow
def test_a_global_backed_version_rolls_back_like_any_other(
    sessions: sessionmaker[Session], settings: Settings, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series_id = add_series(session, _line(10, 0), plant=PLANT).id
        local = add_version(session, series_id, tiny_artifact, version=1, status="active")
        add_series(session, _line(10, 1), plant=PLANT)
    _train_global(sessions, _strict(settings))
    cache = ModelCache()

    def served() -> tuple[int, str]:
        with sessions() as session:
            result = forecast_series(
                session=session, cache=cache, series=_series(session, series_id), request_id="r"
            )
            return result.model_version, result.model

    with sessions() as session:
        backed = session.scalars(
            select(ModelVersion).where(
                ModelVersion.series_id == series_id, ModelVersion.global_model_id.is_not(None)
            )
        ).one()
    assert backed.status == "rejected"  # the strict gate kept v1
    local_model = served()[1]
    with sessions() as session:
        promote(session=session, series_id=series_id, version_id=backed.id, reason="try it")
    assert served() == (2, SEEN)
    with sessions() as session:
        promote(session=session, series_id=series_id, version_id=local.id, reason="rollback")
        assert {
            v.version: v.status for v in list_versions(session=session, series_id=series_id)
        } == {
            1: "active",
            2: "retired",
        }
    assert served() == (1, local_model)
    with sessions() as session:
        promote(session=session, series_id=series_id, version_id=backed.id, reason="again")
    assert served() == (2, SEEN)


@pytest.mark.slow
def test_a_corrupted_global_artifact_refuses_to_load(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with sessions() as session:
        series_id = add_series(session, _line(10, 0), plant=PLANT).id
    run = _train_global(sessions, settings)
    with sessions() as session:
        artifact = _artifact(session, run.global_model_id)
        session.execute(
            update(GlobalModelVersion)
            .where(GlobalModelVersion.id == run.global_model_id)
            .values(artifact=artifact[:-1] + bytes([artifact[-1] ^ 1]))
        )
        session.commit()
        series = _series(session, series_id)
        version = active_version(session=session, series_id=series_id)
        with pytest.raises(ArtifactIntegrityError, match="fails its sha256 check"):
            forecast_series(session=session, cache=ModelCache(), series=series, request_id="r")
        with pytest.raises(ArtifactIntegrityError, match="fails its sha256 check"):
            load_model(version)
        assert session.scalar(select(Prediction.id).limit(1)) is None
        # A version recording another artifact than its global model's is refused too.
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.id == version.id)
            .values(artifact_sha256="0" * 64)
        )
        session.commit()
        session.expire_all()
        with pytest.raises(ArtifactIntegrityError, match="was stored for global artifact"):
            forecast_series(session=session, cache=ModelCache(), series=series, request_id="r")


@pytest.mark.slow
def test_a_local_run_is_gated_against_a_global_backed_active_version(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with sessions() as session:
        series_id = add_series(session, _line(10, 0), plant=PLANT).id
    _train_global(sessions, settings)
    with sessions() as session:
        run, _ = request_training(
            session=session,
            series_id=series_id,
            trigger="api",
            options=TINY.model_copy(update={"warm_start": True}),
            requested_by="test",
        )
    execute_run(run.id, session_factory=sessions, settings=settings, worker_id="test")
    with sessions() as session:
        finished = session.get(TrainingRun, run.id)
        assert finished is not None
        assert finished.status in ("succeeded", "rejected"), finished.error
        assert finished.metrics["active_version"] == 1
        assert finished.metrics["active_backtest_mse"] is not None
        assert finished.metrics["warm_start"] == (
            "warm start not possible: the active version is a global model's"
        )


def test_a_scope_is_a_plant_a_line_or_both() -> None:
    with pytest.raises(ValueError, match="give a plant, a line or both"):
        GlobalOptions(name="everything")
    assert GlobalOptions(name="l", line="l1").selector == {"plant": None, "line": "l1"}


def _series(session: Session, series_id: int) -> Series:
    series = session.get(Series, series_id)
    assert series is not None
    return series


def _artifact(session: Session, global_model_id: int | None) -> bytes:
    stored = session.get(GlobalModelVersion, global_model_id)
    assert stored is not None
    return stored.artifact
