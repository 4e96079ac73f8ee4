"""Stopping mid-epoch: within a second, so Docker's grace period is never outlived.

Docker sends SIGKILL 10 s after SIGTERM by default (compose's `stop_grace_period`). A stop that
waited for the end of the epoch took 14 s with the service's defaults; a killed run is only
re-queued once its heartbeats have been silent for `stale_after_seconds`.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import TrainingRun
from app.jobs.executor import InProcessExecutor
from app.services.training import request_training
from app.settings import Settings
from tests.services.conftest import TINY, add_series

# Epochs of 600 steps, for as many epochs as the test could wait for: seconds each on an idle
# machine, tens on a busy one. A stop that waited for the epoch's end took 26 s here on a busy
# 2-core host, where this one took 0.04 s.
LONG_EPOCHS = TINY.model_copy(update={"epochs": 10_000, "steps_per_epoch": 600, "seed": 7})
STOP_BOUND = 1.5
"""Seconds from the stop request until the run is back in the queue and the executor idle."""


def _run(sessions: sessionmaker[Session], run_id: int) -> TrainingRun:
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        assert run is not None
        return run


def _wait_for_first_epoch(sessions: sessionmaker[Session], run_id: int) -> None:
    """Until the run reports its first epoch: from then on it is surely inside the next one."""
    deadline = time.monotonic() + 120
    while _run(sessions, run_id).progress == 0:
        assert time.monotonic() < deadline, "the run never finished an epoch"
        time.sleep(0.02)


@pytest.mark.slow
def test_a_stop_mid_epoch_hands_the_run_back_within_a_second_or_so(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
        run, _ = request_training(
            session=session,
            series_id=series.id,
            trigger="api",
            options=LONG_EPOCHS,
            requested_by="t",
        )
        run_id = run.id
    executor = InProcessExecutor(sessions, settings)
    [future] = executor.dispatch()
    try:
        _wait_for_first_epoch(sessions, run_id)
    finally:
        asked = time.perf_counter()
        executor.shutdown()  # what the API's lifespan calls on SIGTERM
        stopped = time.perf_counter() - asked
    assert future.done()
    assert stopped < STOP_BOUND, f"took {stopped:.2f} s to stop"
    run = _run(sessions, run_id)
    assert (run.status, run.attempts, run.progress, run.worker_id) == ("queued", 0, 0.0, None)
    assert run.model_version_id is None
    assert "stopped before the run finished" in run.message
