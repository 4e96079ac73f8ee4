"""The worker: a process that takes queued training runs, most urgent and oldest first, and
executes them, and judges queued drift jobs (`app.jobs.drift_jobs`) between them.

Several workers may share one PostgreSQL database. `claim_next_run` locks the row it takes
with SKIP LOCKED, so two workers never take the same run and neither waits for the other's
lock; on SQLite (one writer at a time) the lock clause is left out and the database's write
lock does the same job. Every loop also recovers runs whose worker died (`recover_stale_runs`):
a run silent for `stale_after_seconds` is queued again, up to `MAX_ATTEMPTS` claims in all.

Stopping: `run_forever` returns once its stop event is set (the CLI sets it on SIGTERM and
SIGINT). A run in progress is not abandoned: it stops within a training step (well inside
Docker's grace period) and goes back to the queue, or, if training is already over, is finished
and stored first.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.engine import make_engine, session_factory
from app.db.models import RUN_PRIORITIES, TrainingRun
from app.jobs import recover_stale_runs, start_run
from app.jobs.drift_jobs import execute_drift_batch, recover_stale_drift_jobs
from app.jobs.execution import execute_run
from app.jobs.global_queue import execute_next_global_run
from app.services.forecasting import ModelCache
from app.settings import Settings
from model.device import cap_threads

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    """Host and process: enough to find the worker that holds a run."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_next_run(
    session: Session, worker_id: str, priority_at_most: int | None = None
) -> TrainingRun | None:
    """Mark the most urgent, then oldest, queued run as running on `worker_id` and commit;
    None if none is queued, or none of `priority_at_most` or more urgent (priorities:
    `app.db.models.RUN_PRIORITIES`, 0 the most urgent).

    The row is selected FOR UPDATE SKIP LOCKED: a run another worker is claiming right now is
    passed over, not waited for, so concurrent workers each get a different run.
    """
    query = select(TrainingRun).where(TrainingRun.status == "queued")
    if priority_at_most is not None:
        query = query.where(TrainingRun.priority <= priority_at_most)
    query = (
        query.order_by(TrainingRun.priority, TrainingRun.created_at, TrainingRun.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    try:
        run = session.scalars(query).first()
        if run is not None:
            start_run(run, worker_id=worker_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return run


# Runs a person asked for: a worker takes them before drift jobs, and drift jobs before the
# nightly retraining, so a drift alert's retraining joins the batch it would otherwise miss.
_URGENT = min(RUN_PRIORITIES.values())


class Worker:
    """Polls the database of `settings` for queued work and does it, one thing at a time: a
    training run a person asked for, else a batch of drift jobs, else any training run."""

    def __init__(self, settings: Settings, worker_id: str | None = None) -> None:
        self.settings = settings
        cap_threads(settings.torch_threads)
        self.worker_id = worker_id or default_worker_id()
        self.last_run_id: int | None = None
        self._engine = make_engine(settings.database_url)
        self._sessions = session_factory(self._engine)
        self._cache = ModelCache(settings.model_cache_bytes)
        self._stop = threading.Event()

    def run_once(self) -> bool:
        """Recover stale work, then do the most urgent queued work; False if there was none."""
        # A global run first: few, each asked for by a person, each for a whole scope.
        if execute_next_global_run(self._sessions, self.settings, self.worker_id, self._stop):
            return True
        with self._sessions() as session:
            recover_stale_runs(session=session, settings=self.settings)
            recover_stale_drift_jobs(session=session, settings=self.settings)
            run = claim_next_run(session, self.worker_id, priority_at_most=_URGENT)
        if run is None and self._judge_drift():
            return True
        if run is None:
            with self._sessions() as session:
                run = claim_next_run(session, self.worker_id)
        if run is None:
            return False
        self.last_run_id = run.id
        log.info("worker %s executing run %d", self.worker_id, run.id)
        execute_run(
            run.id,
            session_factory=self._sessions,
            settings=self.settings,
            worker_id=self.worker_id,
            stop_event=self._stop,
        )
        return True

    def _judge_drift(self) -> bool:
        judged = execute_drift_batch(
            sessions=self._sessions,
            settings=self.settings,
            worker_id=self.worker_id,
            cache=self._cache,
        )
        if judged:
            log.info("worker %s judged %d drift jobs", self.worker_id, judged)
        return judged > 0

    def run_forever(self, stop_event: threading.Event) -> None:
        """Work until `stop_event` is set, waiting `worker_poll_seconds` when idle."""
        self._stop = stop_event
        while not stop_event.is_set():
            try:
                worked = self.run_once()
            except SQLAlchemyError:
                # A database that is briefly away must not end the worker; the poll retries.
                log.exception("worker %s: database error; trying again", self.worker_id)
                worked = False
            if not worked:
                stop_event.wait(self.settings.worker_poll_seconds)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
