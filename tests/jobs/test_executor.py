"""The in-process executor, and the heartbeat that keeps a long epoch from looking dead."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import TrainingRun
from app.jobs import Heartbeat, RunLost, claim_run, recover_stale_runs
from app.jobs.executor import InProcessExecutor
from app.services.training import request_training
from app.settings import Settings
from tests.services.conftest import TINY, add_series


def _request(sessions: sessionmaker[Session], series_id: int) -> int:
    with sessions() as session:
        run, _ = request_training(
            session=session, series_id=series_id, trigger="api", options=TINY, requested_by="t"
        )
        return run.id


def test_a_dispatched_run_is_executed_to_its_outcome(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    run_id = _request(sessions, series.id)
    outcomes: list[tuple[str, float]] = []
    executor = InProcessExecutor(
        sessions, settings, on_finished=lambda status, seconds: outcomes.append((status, seconds))
    )
    try:
        [done] = executor.dispatch()
        assert done.result(timeout=120) == run_id
    finally:
        executor.shutdown()
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        assert run.status == "succeeded", run.error
        assert run.worker_id == executor.worker_id and run.model_version_id is not None
        wall = (run.finished_at - run.started_at).total_seconds()
    # What the API's /metrics counts: the outcome and the run's wall time, once.
    assert outcomes == [("succeeded", wall)]


def test_queued_runs_left_by_a_dead_process_are_resumed_at_start(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    run_id = _request(sessions, series.id)
    # A process claimed it and died a while ago.
    claim = claim_run(sessions, run_id, "gone")
    assert claim is not None
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        run.heartbeat_at -= timedelta(seconds=settings.stale_after_seconds + 1)
        session.commit()
    executor = InProcessExecutor(sessions, settings)
    try:
        [resumed] = executor.dispatch_queued()
        assert resumed.result(timeout=120) == run_id
    finally:
        executor.shutdown()
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        assert (run.status, run.attempts) == ("succeeded", 2), run.error


def test_the_heartbeat_thread_beats_between_epochs_and_notices_a_lost_run(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    run_id = _request(sessions, series.id)
    claim = claim_run(sessions, run_id, "slow")
    assert claim is not None
    with sessions() as session:
        started = session.get(TrainingRun, run_id).heartbeat_at
    with Heartbeat(sessions, claim, every=0.05) as heartbeat:
        deadline = time.monotonic() + 30
        while _heartbeat(sessions, run_id) == started:
            assert time.monotonic() < deadline, "no heartbeat from the thread"
            time.sleep(0.05)
        # Declared dead by another worker meanwhile: the next write must be refused. Recovery
        # skips a row the heartbeat thread holds locked at that instant, so it is tried again.
        later = _heartbeat(sessions, run_id) + timedelta(hours=1)
        while True:
            with sessions() as session:
                if run_id in recover_stale_runs(session=session, settings=settings, now=later):
                    break
            assert time.monotonic() < deadline, "the run was never recovered"
        with pytest.raises(RunLost):
            heartbeat.beat(progress=0.5)
        assert heartbeat.lost
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        assert (run.status, run.progress, run.heartbeat_at) == ("queued", 0.0, None)


def _heartbeat(sessions: sessionmaker[Session], run_id: int) -> datetime:
    with sessions() as session:
        return session.get(TrainingRun, run_id).heartbeat_at
