"""Training inside the API process: the embedded default (`LINECAST_IN_PROCESS_JOBS`).

A thread pool executes queued runs, so a single process serves and trains with no worker to
deploy. It is woken, not handed a run: each `dispatch` has one more queued run claimed, the
most urgent first, exactly as a worker claims (`app.jobs.worker.claim_next_run`), so a run a
person asks for goes before thousands of nightly ones queued earlier, and a separate worker
polling the same database never executes a run twice. Commits that queue runs dispatch by
themselves (`app.jobs.dispatch`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import OPEN_RUN_STATUSES, TrainingRun
from app.jobs.execution import execute_run
from app.jobs.worker import claim_next_run, default_worker_id, recover_stale_runs
from app.settings import Settings

log = logging.getLogger(__name__)


class InProcessExecutor:
    """`dispatch(n)` has n more queued runs executed on `max_workers` threads; `shutdown()`."""

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

    def dispatch(self, count: int = 1) -> list[Future[int | None]]:
        """Claim and execute `count` more queued runs, one after another per thread; each
        future ends with the id of the run it took to an outcome (or handed back), or None
        when the queue was empty by then."""
        return [self._pool.submit(self._execute_next) for _ in range(count)]

    def dispatch_queued(self) -> list[Future[int | None]]:
        """Recover runs of a process that died, then dispatch every queued run; for start-up,
        when runs queued before a restart would otherwise wait forever."""
        with self._sessions() as session:
            recover_stale_runs(session=session, settings=self._settings)
            queued = session.scalar(
                select(func.count()).select_from(TrainingRun).where(TrainingRun.status == "queued")
            )
        return self.dispatch(queued or 0)

    def shutdown(self, wait: bool = True) -> None:
        """Stop: runs not started stay queued, runs training go back to the queue within a
        training step, runs already scoring are stored first."""
        self._stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _execute_next(self) -> int | None:
        if self._stop.is_set():
            return None
        try:
            with self._sessions() as session:
                run = claim_next_run(session, self.worker_id)
        except SQLAlchemyError:
            # The run stays queued: a worker, the next dispatch or the next start takes it.
            log.exception("could not claim a queued training run")
            return None
        if run is None:
            return None
        execute_run(
            run.id,
            session_factory=self._sessions,
            settings=self._settings,
            worker_id=self.worker_id,
            stop_event=self._stop,
        )
        if self._on_finished is not None:
            self._report(run.id)
        return run.id

    def _report(self, run_id: int) -> None:
        with self._sessions() as session:
            run = session.get(TrainingRun, run_id)
            if run is None or run.status in OPEN_RUN_STATUSES:
                return  # handed back to the queue: no outcome yet
            if run.started_at is not None and run.finished_at is not None:
                seconds = (run.finished_at - run.started_at).total_seconds()
                self._on_finished(run.status, seconds)
