"""The worker: claiming without collisions, recovering dead runs, stopping gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import RUN_PRIORITIES, TrainingRun, utcnow
from app.jobs import MAX_ATTEMPTS, STALE_MESSAGE, claim_run, recover_stale_runs
from app.jobs.worker import Worker, claim_next_run
from app.services.training import TrainingOptions, request_training
from app.settings import Settings
from model.race import screening_workers
from tests.factories import new_series, new_training_run
from tests.services.conftest import TINY, add_series

REPOSITORY = Path(__file__).resolve().parents[2]
# Far more epochs than a test waits for: the run is still training when it is stopped.
ENDLESS = TINY.model_copy(update={"epochs": 10_000})


def _queued_runs(session: Session, count: int, later: int = 0, **fields: Any) -> list[int]:
    """`count` queued runs (`fields` set), each of its own series (one open run per series),
    oldest first, made `later` seconds or more from now."""
    ids = []
    for offset in range(later, later + count):
        series = new_series()
        session.add(series)
        session.flush()
        stamp = utcnow() + timedelta(seconds=offset)
        run = new_training_run(series.id, created_at=stamp, **fields)
        session.add(run)
        session.flush()
        ids.append(run.id)
    session.commit()
    return ids


def _request(sessions: sessionmaker[Session], series_id: int, options: TrainingOptions) -> int:
    with sessions() as session:
        run, _ = request_training(
            session=session, series_id=series_id, trigger="cli", options=options, requested_by="t"
        )
        return run.id


def _run(sessions: sessionmaker[Session], run_id: int) -> TrainingRun:
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        assert run is not None
        return run


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Poll the database until `condition` holds: another process changes it, so there is no
    event to wait on."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _training(sessions: sessionmaker[Session], run_id: int) -> Callable[[], bool]:
    """True once the run is running and has reported a finished epoch (with a heartbeat)."""

    def check() -> bool:
        run = _run(sessions, run_id)
        return run.status == "running" and run.heartbeat_at is not None and run.progress > 0

    return check


def test_a_run_locked_by_one_claim_is_skipped_by_another(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        oldest, newer = _queued_runs(session, 2)
    with sessions() as holder, sessions() as other:
        # Another worker is in the middle of claiming the oldest run.
        holder.execute(select(TrainingRun).where(TrainingRun.id == oldest).with_for_update())
        claimed = claim_next_run(other, "worker-b")
        assert claimed is not None and claimed.id == newer
        holder.commit()
        again = claim_next_run(other, "worker-b")
        assert again is not None and again.id == oldest
        assert claim_next_run(other, "worker-b") is None


def test_concurrent_claims_never_take_the_same_run(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        run_ids = _queued_runs(session, 12)
    barrier = threading.Barrier(4)
    claims: list[tuple[str, int]] = []
    errors: list[BaseException] = []

    def claim_all(worker_id: str) -> None:
        try:
            with sessions() as session:
                barrier.wait()
                while (run := claim_next_run(session, worker_id)) is not None:
                    claims.append((worker_id, run.id))
        except BaseException as error:  # asserted below
            errors.append(error)

    threads = [threading.Thread(target=claim_all, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(run_id for _, run_id in claims) == run_ids
    with sessions() as session:
        for worker_id, run_id in claims:
            run = session.get(TrainingRun, run_id)
            assert (run.status, run.worker_id, run.attempts) == ("running", worker_id, 1)


def test_only_one_executor_claims_a_queued_run(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        (run_id,) = _queued_runs(session, 1)
    first = claim_run(sessions, run_id, "api-1")
    assert first is not None and first.attempt == 1
    assert claim_run(sessions, run_id, "api-2") is None
    assert claim_run(sessions, run_id, "api-1") == first  # its own claim, picked up again


def test_silent_runs_are_requeued_then_failed_and_live_ones_left_alone(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    now = utcnow()
    stale = now - timedelta(seconds=settings.stale_after_seconds + 1)
    with sessions() as session:
        silent, exhausted, live, queued = _queued_runs(session, 4)
        for run_id, heartbeat, attempts in (
            (silent, stale, 1),
            (exhausted, stale, MAX_ATTEMPTS),
            (live, now, 1),
        ):
            session.execute(
                update(TrainingRun)
                .where(TrainingRun.id == run_id)
                .values(status="running", worker_id="w", heartbeat_at=heartbeat, attempts=attempts)
            )
        session.commit()
        recovered = recover_stale_runs(session=session, settings=settings, now=now)

    assert recovered == [silent, exhausted]
    requeued = _run(sessions, silent)
    assert (requeued.status, requeued.message, requeued.worker_id) == (
        "queued",
        STALE_MESSAGE,
        None,
    )
    failed = _run(sessions, exhausted)
    assert failed.status == "failed" and failed.finished_at == now
    assert failed.error == "worker stopped sending heartbeats on each of 3 attempts; giving up"
    assert _run(sessions, live).status == "running"
    assert _run(sessions, queued).status == "queued"


@pytest.mark.slow
def test_a_killed_worker_s_run_is_requeued_and_given_up_after_three_attempts(
    sessions: sessionmaker[Session], settings: Settings, migrated_url: str, line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    run_id = _request(sessions, series.id, ENDLESS)
    worker = _start_worker(migrated_url)
    try:
        _wait_for(_training(sessions, run_id), "the worker to train the run")
    finally:
        worker.kill()  # SIGKILL: no chance to clean up, as when a machine dies
        worker.wait(timeout=30)
    dead = _run(sessions, run_id)
    assert (dead.status, dead.attempts) == ("running", 1)

    later = dead.heartbeat_at + timedelta(seconds=settings.stale_after_seconds + 1)
    with sessions() as session:
        assert recover_stale_runs(session=session, settings=settings, now=later) == [run_id]
    requeued = _run(sessions, run_id)
    assert (requeued.status, requeued.message, requeued.attempts) == ("queued", STALE_MESSAGE, 1)

    # Two more workers claim it and die the same way; the third silence ends it.
    for attempt in (2, 3):
        with sessions() as session:
            claimed = claim_next_run(session, f"doomed-{attempt}")
            assert claimed is not None and (claimed.id, claimed.attempts) == (run_id, attempt)
            later = claimed.heartbeat_at + timedelta(seconds=settings.stale_after_seconds + 1)
            recover_stale_runs(session=session, settings=settings, now=later)
    final = _run(sessions, run_id)
    assert final.status == "failed" and final.model_version_id is None
    assert final.error == "worker stopped sending heartbeats on each of 3 attempts; giving up"


@pytest.mark.slow
def test_sigterm_puts_the_run_in_progress_back_in_the_queue(
    sessions: sessionmaker[Session], migrated_url: str, line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    run_id = _request(sessions, series.id, ENDLESS)
    worker = _start_worker(migrated_url)
    try:
        _wait_for(_training(sessions, run_id), "the worker to train the run")
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0, output
    assert "stopped" in output
    run = _run(sessions, run_id)
    assert run.status == "queued" and run.worker_id is None
    assert run.message.startswith("re-queued: worker ") and "stopped before the run finished" in (
        run.message
    )
    assert run.attempts == 0  # a graceful stop does not count against the run


def test_run_once_executes_the_oldest_queued_run(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame
) -> None:
    with sessions() as session:
        first, second = add_series(session, line), add_series(session, line)
    older = _request(sessions, first.id, TINY)
    newer = _request(sessions, second.id, TINY)
    with Worker(settings, worker_id="w1") as worker:
        assert worker.run_once()
        assert worker.last_run_id == older
    done = _run(sessions, older)
    assert done.status == "succeeded" and done.worker_id == "w1", done.error
    assert _run(sessions, newer).status == "queued"


def test_a_stop_during_training_hands_the_run_back(
    sessions: sessionmaker[Session], settings: Settings, line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    run_id = _request(sessions, series.id, ENDLESS)
    stop = threading.Event()
    with Worker(settings, worker_id="w1") as worker:
        thread = threading.Thread(target=worker.run_forever, args=(stop,))
        thread.start()
        try:
            _wait_for(_training(sessions, run_id), "the worker to train the run")
        finally:
            stop.set()
            thread.join()
    run = _run(sessions, run_id)
    assert (run.status, run.attempts, run.progress) == ("queued", 0, 0.0)
    assert run.message == "re-queued: worker w1 stopped before the run finished"


def _start_worker(database_url: str) -> subprocess.Popen[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LINECAST_")}
    env.update(LINECAST_HEARTBEAT_SECONDS="0.2", LINECAST_STALE_AFTER_SECONDS="5")
    return subprocess.Popen(
        [sys.executable, "-m", "app", "worker", "--database-url", database_url],
        cwd=REPOSITORY,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_worker_caps_torch_threads_and_the_race_screens_within_them(
    settings: Settings,
) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with Worker(settings.model_copy(update={"torch_threads": 1})):
            assert torch.get_num_threads() == 1
            # Four candidates: with one thread they are screened one after another.
            assert screening_workers(4) == 1
        torch.set_num_threads(2)
        assert screening_workers(4) == 2 and screening_workers(1) == 1
        with Worker(settings):  # unset: torch's own default is left alone
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_run_a_person_asks_for_is_claimed_before_the_nightly_batch(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        # Queued first, by cron; then one a person asked for.
        nightly = _queued_runs(session, 3, trigger="retrain", priority=RUN_PRIORITIES["retrain"])
        asked = _queued_runs(session, 1, later=10, trigger="api", priority=RUN_PRIORITIES["api"])
        claimed = [claim_next_run(session, "w").id for _ in range(4)]
    assert claimed == [*asked, *nightly]
