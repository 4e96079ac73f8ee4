"""Global runs on the queue: a worker takes one before training runs and takes it to its
outcome; a silent one is re-queued, then failed; a stop during training hands it back."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import GlobalRun, TrainingRun, utcnow
from app.jobs import MAX_ATTEMPTS, recover_stale_runs
from app.jobs.global_execution import execute_global_run
from app.jobs.global_queue import claim_next_global_run
from app.jobs.worker import Worker
from app.services.global_models import GlobalOptions, request_global_training
from app.settings import Settings
from tests.factories import new_training_run
from tests.model.global_series import daily_series
from tests.services.conftest import TINY, add_series

OPTIONS = GlobalOptions(
    name="p1", plant="p1", horizon=6, context=24, hidden=8, epochs=1, steps_per_epoch=3
)


def _queued(sessions: sessionmaker[Session]) -> int:
    """A plant of two series and its queued global run; the run's id."""
    with sessions() as session:
        for seed in (0, 1):
            add_series(session, daily_series(seed, 10.0 * (seed + 1), 2.0), plant="p1")
        run, _ = request_global_training(
            session=session, options=OPTIONS, trigger="api", requested_by="t"
        )
        return run.id


@pytest.mark.slow
def test_a_worker_takes_a_global_run_before_a_training_run(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    run_id = _queued(sessions)
    with sessions() as session:
        session.add(new_training_run(1, status="queued", config=TINY.model_dump()))
        session.commit()
    with Worker(settings, worker_id="w1") as worker:
        assert worker.run_once()
    with sessions() as session:
        run = session.get(GlobalRun, run_id)
        assert run is not None and run.status == "succeeded", run.error
        assert (run.worker_id, run.attempts, run.progress) == ("w1", 1, 1.0)
        [training] = session.scalars(select(TrainingRun)).all()
        assert training.status == "queued"


def test_silent_global_runs_are_requeued_then_failed(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    run_id = _queued(sessions)
    long_ago = utcnow() - timedelta(seconds=settings.stale_after_seconds + 1)
    with sessions() as session:
        assert claim_next_global_run(session, "dead") is not None
        assert claim_next_global_run(session, "other") is None  # nothing else is queued
        run = session.get(GlobalRun, run_id)
        run.heartbeat_at = long_ago
        session.commit()
        assert recover_stale_runs(session=session, settings=settings, table=GlobalRun) == [run_id]
        session.refresh(run)
        assert (run.status, run.worker_id) == ("queued", None)
        run.status, run.attempts, run.heartbeat_at = "running", MAX_ATTEMPTS, long_ago
        session.commit()
        assert recover_stale_runs(session=session, settings=settings, table=GlobalRun) == [run_id]
        session.refresh(run)
        assert run.status == "failed" and "giving up" in run.error


def test_a_stop_during_training_hands_the_global_run_back(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    run_id = _queued(sessions)
    stop = threading.Event()
    stop.set()
    execute_global_run(
        run_id, session_factory=sessions, settings=settings, worker_id="w1", stop_event=stop
    )
    with sessions() as session:
        run = session.get(GlobalRun, run_id)
        assert run is not None
        assert (run.status, run.attempts, run.global_model_id) == ("queued", 0, None)
        assert "stopped before the run finished" in run.message
