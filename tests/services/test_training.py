"""Training runs end to end: queueing, executing, the gate, warm starts and failures."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import RUN_PRIORITIES, ModelVersion, TrainingRun, utcnow
from app.jobs.execution import execute_run
from app.services.registry import active_version, list_versions, load_model
from app.services.training import (
    TrainingOptions,
    minimum_observations,
    request_retraining,
    request_training,
)
from app.settings import Settings
from tests.services.conftest import TINY, add_series, add_version


def _train(
    sessions: sessionmaker[Session],
    settings: Settings,
    series_id: int,
    options: TrainingOptions = TINY,
) -> TrainingRun:
    with sessions() as session:
        run, created = request_training(
            session=session, series_id=series_id, trigger="api", options=options, requested_by="t"
        )
    assert created
    execute_run(run.id, session_factory=sessions, settings=settings, worker_id="test-worker")
    with sessions() as session:
        stored = session.get(TrainingRun, run.id)
        assert stored is not None
        return stored


def test_a_first_run_promotes_a_model_that_loads_and_forecasts(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    run = _train(sessions, settings, series.id)

    assert run.status == "succeeded", run.error
    assert run.progress == 1.0 and run.attempts == 1 and run.worker_id == "test-worker"
    assert run.message.startswith("first model: ")
    metrics = run.metrics
    assert metrics["served"] in (metrics["chosen"], metrics["fallback"], "repeat-last")
    assert metrics["active_version"] is None and metrics["warm_start"] is None
    assert metrics["backtest_origins"] == 64 and metrics["backtest_steps"] == TINY.horizon
    assert metrics["mode_requested"] == "auto" and metrics["context"] == TINY.context
    with sessions() as session:
        version = active_version(session=session, series_id=series.id)
        assert version is not None
        assert (version.version, version.id) == (1, run.model_version_id)
        assert version.training_run_id == run.id and version.promoted_at is not None
        # The version adds the gate's errors by step and origin (`app.services.gate_errors`).
        breakdown = version.metrics.pop("backtest")
        assert version.metrics == metrics and version.backtest_error == metrics["backtest_mse"]
        candidate = next(m for m in breakdown["models"] if m["role"] == "candidate")
        assert candidate["mse"] == pytest.approx(metrics["backtest_mse"])
        assert version.config == TINY.model_dump()
        assert version.training_mode == metrics["mode_used"]
        # The candidate table is stored with the version: every kind was scored.
        table = version.selection["selection"]["candidates"]
        kinds = {row["kind"] for row in table}
        assert {"gru", "linear", "ets", "seasonal-naive", "repeat-last"} <= kinds
        assert version.selection["serving"] == metrics["served"]
    model = load_model(version)
    forecast = model.forecast(line)
    assert len(forecast.values) == TINY.horizon
    assert forecast.stamps[0] == line.index[-1] + pd.Timedelta(hours=1)
    assert 50 < forecast.median.mean() < 200  # plant units, not the scaled space
    assert (forecast.lower <= forecast.median).all() and (forecast.median <= forecast.upper).all()


def test_a_first_model_nothing_can_beat_still_serves_repeat_last(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    """Every candidate learns a daily wave; the line then runs flat through the gate's
    stretch, where only repeating the last value is right. The series must still be served."""
    rng = np.random.default_rng(5)
    index = pd.date_range("2026-01-05", periods=480, freq="h", tz="UTC", name="ts")
    wave = 100 + 10 * np.sin(2 * np.pi * np.arange(480) / 24) + rng.normal(0, 0.5, 480)
    wave[-90:] = 100 + rng.normal(0, 0.01, 90)
    with sessions() as session:
        series = add_series(session, pd.DataFrame({"value": wave}, index=index))
    run = _train(sessions, settings, series.id)

    assert run.status == "succeeded", run.error
    assert run.message.startswith("first model: ")
    assert run.message.endswith("; serving repeat-last")
    with sessions() as session:
        version = active_version(session=session, series_id=series.id)
        assert version is not None and version.metrics["served"] == "repeat-last"
    forecast = load_model(version).forecast(pd.DataFrame({"value": wave}, index=index))
    np.testing.assert_allclose(forecast.median, wave[-1])


@pytest.mark.slow
def test_a_candidate_that_cannot_clear_the_margin_is_rejected_and_the_active_stays(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    first = _train(sessions, settings, series.id)
    assert first.status == "succeeded", first.error
    # A candidate must now cut the active model's error by 99 %: the same data, training and
    # warm start from the active weights cannot, so the gate must say no.
    strict = settings.model_copy(update={"retrain_margin": 0.99})
    second = _train(sessions, strict, series.id, TINY.model_copy(update={"warm_start": True}))

    metrics = second.metrics
    assert second.status == "rejected"
    assert metrics["warm_start"].startswith("warm start of gru:")
    assert metrics["warm_start"].endswith(" from the given weights (active v1)")
    assert metrics["active_version"] == 1 and metrics["active_backtest_mse"] is not None
    assert second.message == metrics["gate"]
    assert "does not beat" in second.message
    with sessions() as session:
        versions = {v.version: v for v in list_versions(session=session, series_id=series.id)}
        assert versions[1].status == "active" and versions[1].retired_at is None
        assert versions[2].status == "rejected" and versions[2].status_reason == second.message
        assert versions[2].id == second.model_version_id and versions[2].promoted_at is None


@pytest.mark.slow
def test_a_warm_start_from_a_network_of_another_shape_trains_from_scratch(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    assert _train(sessions, settings, series.id).status == "succeeded"
    wider = TINY.model_copy(update={"hidden": 12, "warm_start": True})
    run = _train(sessions, settings, series.id, wider)

    assert run.status in ("succeeded", "rejected"), run.error
    assert run.metrics["warm_start"] == (
        "warm start not possible: no network of the given model has this input and shape "
        "(active v1)"
    )


def test_concurrent_requests_for_one_series_queue_exactly_one_run(
    sessions: sessionmaker[Session], line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    barrier = threading.Barrier(8)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def request() -> None:
        try:
            with sessions() as session:
                barrier.wait()
                run, created = request_training(
                    session=session,
                    series_id=series.id,
                    trigger="api",
                    options=TINY,
                    requested_by="t",
                )
                results.append((run.id, created))
        except BaseException as error:  # reported below, with the thread's error
            errors.append(error)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(created for _, created in results) == 1
    assert len({run_id for run_id, _ in results}) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrainingRun)) == 1


def test_archived_and_short_series_are_refused_and_nothing_is_queued(
    sessions: sessionmaker[Session], line: pd.DataFrame
) -> None:
    need = minimum_observations(TINY)
    with sessions() as session:
        archived = add_series(session, line, archived_at=utcnow())
        short = add_series(session, line.iloc[: need - 1])
        with pytest.raises(ValueError, match=f"series {archived.id} is archived"):
            request_training(
                session=session,
                series_id=archived.id,
                trigger="api",
                options=TINY,
                requested_by=None,
            )
        with pytest.raises(ValueError, match=f"has {need - 1} observations; .* at least {need}"):
            request_training(
                session=session, series_id=short.id, trigger="api", options=TINY, requested_by=None
            )
        with pytest.raises(LookupError, match="series 999999 not found"):
            request_training(
                session=session, series_id=999999, trigger="api", options=TINY, requested_by=None
            )
        assert session.scalar(select(func.count()).select_from(TrainingRun)) == 0


def test_retraining_all_series_skips_those_that_cannot_train(
    sessions: sessionmaker[Session], line: pd.DataFrame
) -> None:
    with sessions() as session:
        ready = add_series(session, line)
        add_series(session, line, archived_at=utcnow())
        short = add_series(session, line.iloc[:10])
        queued = request_retraining(
            session=session, series_ids=None, warm_start=True, requested_by="t", trigger="retrain"
        )
        assert [(run.series_id, run.created) for run in queued.runs] == [(ready.id, True)]
        assert list(queued.skipped) == [short.id]
        assert "has 10 observations" in queued.skipped[short.id]
        run = session.get(TrainingRun, queued.runs[0].run_id)
        # No active model: the defaults of the settings, with the warm start asked for.
        assert run.warm_start and run.config == TrainingOptions(warm_start=True).model_dump()
        again = request_retraining(
            session=session,
            series_ids=[ready.id],
            warm_start=False,
            requested_by="t",
            trigger="cli",
        )
        assert [(r.run_id, r.status, r.created) for r in again.runs] == [(run.id, "queued", False)]


def test_a_constant_series_fails_with_the_reason_and_leaves_no_version(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame
) -> None:
    flat = line.assign(value=np.full(len(line), 42.0))
    with sessions() as session:
        series = add_series(session, flat)
    run = _train(sessions, settings, series.id)

    assert run.status == "failed" and run.finished_at is not None
    assert run.error == run.message
    assert run.error.startswith("PreprocessingError: series is constant")
    assert run.model_version_id is None
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ModelVersion)) == 0


@pytest.mark.parametrize("warm_start", [True, False])
def test_retraining_copies_each_active_version_s_options_in_the_database(
    any_sessions: sessionmaker[Session], line: pd.DataFrame, warm_start: bool
) -> None:
    options = TINY.model_copy(update={"hidden": 12, "warm_start": not warm_start}).model_dump()
    with any_sessions() as session:
        series = add_series(session, line.iloc[:30])
        add_version(session, series.id, b"weights", status="active", config=options)
        queued = request_retraining(
            session=session,
            series_ids=[series.id],
            warm_start=warm_start,
            requested_by="cron",
            trigger="retrain",
        )
        run = session.get(TrainingRun, queued.runs[0].run_id)
        assert run is not None and queued.runs[0].created
        assert run.config == {**options, "warm_start": warm_start}
        assert TrainingOptions.model_validate(run.config).warm_start is warm_start
        assert (run.warm_start, run.status, run.priority) == (
            warm_start,
            "queued",
            RUN_PRIORITIES["retrain"],
        )
        assert run.created_at is not None and run.requested_by == "cron"


def test_retraining_many_series_takes_a_few_queries_and_reads_no_artifact(
    sessions: sessionmaker[Session], line: pd.DataFrame
) -> None:
    """The cron endpoint asks for every series: a query or two per series (the old way) took
    minutes at 5,000, and loading each active version's row read its artifact."""
    with sessions() as session:
        modelled = [add_series(session, line.iloc[:30]) for _ in range(8)]
        for series in modelled:  # had a model, so trainable: its rows are not counted again
            add_version(session, series.id, b"weights", status="active", config=TINY.model_dump())
        fresh = [add_series(session, line) for _ in range(4)]
        add_series(session, line.iloc[:10])  # too short, no model: skipped
        engine = session.get_bind()
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with sessions() as session:
            queued = request_retraining(
                session=session,
                series_ids=None,
                warm_start=False,
                requested_by="cron",
                trigger="retrain",
            )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    expected = sorted(series.id for series in modelled + fresh)
    assert sorted(run.series_id for run in queued.runs if run.created) == expected
    assert not [s for s in statements if "artifact" in s], "an artifact was read"
    with sessions() as session:
        runs = {
            run.series_id: run
            for run in session.scalars(select(TrainingRun).order_by(TrainingRun.series_id))
        }
    assert {run.priority for run in runs.values()} == {RUN_PRIORITIES["retrain"]}
    # The active version's options, with the warm start asked for; the defaults without one.
    assert {runs[series.id].config["hidden"] for series in modelled} == {TINY.hidden}
    assert all(runs[series.id].config == TrainingOptions().model_dump() for series in fresh)
    # Series, active options, counts of the unmodelled, open runs, the savepoint and its
    # inserts (one statement for many rows), its release: the same for 13 series or 5,000.
    assert len(statements) <= 8, statements
