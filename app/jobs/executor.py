"""Training inside the API process: the embedded default (`LINECAST_IN_PROCESS_JOBS`).

A thread pool executes the runs the API queues, so a single process serves and trains with
no worker to deploy. Its runs are claimed like a worker's (`app.jobs.claim_run`), so a
separate worker polling the same database never executes one of them twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import OPEN_RUN_STATUSES, TrainingRun
from app.jobs.worker import default_worker_id, recover_stale_runs
from app.services.training import execute_run
from app.settings import Settings

log = logging.getLogger(__name__)


class InProcessExecutor:
    """`submit(run_id)` executes a run on one of `max_workers` threads; `shutdown()` stops."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        max_workers: int = 1,
        on_finished: Callable[[str, float], None] | None = None,
    ) -> None:
        """`on_finished(status, seconds)` hears of each run this executor took to an outcome
        (the API counts them for /metrics)."""
        self._sessions, self._settings = session_factory, settings
        self._on_finished = on_finished
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="linecast-training")
        self._stop = threading.Event()
        self.worker_id = f"{default_worker_id()}:in-process"

    def submit(self, run_id: int) -> Future[None]:
        """Execute the run soon; the future ends when it has an outcome (or was handed back)."""
        return self._pool.submit(self._execute, run_id)

    def submit_queued(self) -> dict[int, Future[None]]:
        """Recover runs of a process that died, then submit every queued run, oldest first;
        for start-up, when runs queued before a restart would otherwise wait forever."""
        with self._sessions() as session:
            recover_stale_runs(session=session, settings=self._settings)
            query = (
                select(TrainingRun.id)
                .where(TrainingRun.status == "queued")
                .order_by(TrainingRun.created_at, TrainingRun.id)
            )
            run_ids = list(session.scalars(query))
        return {run_id: self.submit(run_id) for run_id in run_ids}

    def shutdown(self, wait: bool = True) -> None:
        """Stop: runs not started stay queued, runs training go back to the queue within a
        training step, runs already scoring are stored first."""
        self._stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _execute(self, run_id: int) -> None:
        try:
            execute_run(
                run_id,
                session_factory=self._sessions,
                settings=self._settings,
                worker_id=self.worker_id,
                stop_event=self._stop,
            )
        except Exception:
            # Only the claim itself can get here (a database error): the run is still queued.
            log.exception("could not execute training run %d", run_id)
            return
        if self._on_finished is not None:
            self._report(run_id)

    def _report(self, run_id: int) -> None:
        with self._sessions() as session:
            run = session.get(TrainingRun, run_id)
            if run is None or run.status in OPEN_RUN_STATUSES:
                return  # handed back to the queue: no outcome yet
            if run.started_at is not None and run.finished_at is not None:
                seconds = (run.finished_at - run.started_at).total_seconds()
                self._on_finished(run.status, seconds)
