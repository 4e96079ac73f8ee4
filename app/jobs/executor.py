"""Training inside the API process: the embedded default (`LINECAST_IN_PROCESS_JOBS`).

A thread pool executes queued runs, so a single process serves and trains with no worker to
deploy. It is woken, not handed a run: each `dispatch` has one more queued run claimed, the
most urgent first, exactly as a worker claims (`app.jobs.worker.claim_next_run`), so a run a
person asks for goes before thousands of nightly ones queued earlier, and a separate worker
polling the same database never executes a run twice. Commits that queue runs dispatch by
themselves (`app.jobs.dispatch`), and so do commits that queue drift jobs: one task at a time
judges them, batch after batch, until none is left.
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
from app.jobs import recover_stale_runs
from app.jobs.drift_jobs import execute_drift_batch, recover_stale_drift_jobs
from app.jobs.execution import execute_run
from app.jobs.global_queue import execute_next_global_run, queued_global_runs
from app.jobs.worker import claim_next_run, default_worker_id
from app.services.forecasting import ModelCache
from app.settings import Settings

log = logging.getLogger(__name__)


class InProcessExecutor:
    """`dispatch(n)` has n more queued runs executed on `max_workers` threads, and
    `dispatch_drift()` the queued drift jobs; `shutdown()`."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        max_workers: int = 1,
        on_finished: Callable[[str, float], None] | None = None,
        cache: ModelCache | None = None,
    ) -> None:
        """`on_finished(status, seconds)` hears of each run this executor took to an outcome
        (the API counts them for /metrics); drift jobs load models through `cache` (the API's
        own, so a model judged is already loaded for the next forecast)."""
        self._sessions, self._settings = session_factory, settings
        self._on_finished, self._cache = on_finished, cache
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="linecast-training")
        self._stop = threading.Event()
        self._drift_lock = threading.Lock()
        self._drift_draining = self._drift_asked = False
        self.worker_id = f"{default_worker_id()}:in-process"

    def dispatch(self, count: int = 1) -> list[Future[int | None]]:
        """Claim and execute `count` more queued runs, one after another per thread; each
        future ends with the id of the run it took to an outcome (or handed back), or None
        when the queue was empty by then."""
        return [self._pool.submit(self._execute_next) for _ in range(count)]

    def dispatch_drift(self) -> Future[int] | None:
        """Have the queued drift jobs judged; the future of the task that will (its result:
        the jobs it took), or None when the task already judging them will take these too."""
        with self._drift_lock:
            self._drift_asked = True
            if self._drift_draining:
                return None
            self._drift_draining = True
        return self._pool.submit(self._drain_drift)

    def dispatch_queued(self) -> list[Future[int | None]]:
        """Recover runs and drift jobs of a process that died, then dispatch every queued run
        and the drift jobs; for start-up, when work queued before a restart would otherwise
        wait forever."""
        with self._sessions() as session:
            recover_stale_runs(session=session, settings=self._settings)
            recover_stale_drift_jobs(session=session, settings=self._settings)
            queued = session.scalar(
                select(func.count()).select_from(TrainingRun).where(TrainingRun.status == "queued")
            )
            queued = (queued or 0) + queued_global_runs(session)
        self.dispatch_drift()
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
            # A global run first, as a worker takes them (`app.jobs.global_queue`).
            global_run = execute_next_global_run(
                self._sessions, self._settings, self.worker_id, self._stop
            )
            if global_run is not None:
                return global_run
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

    def _drain_drift(self) -> int:
        """Judge batches until none is queued and no dispatch came in meanwhile: a commit that
        queued jobs just as the last batch came back empty is not left waiting."""
        taken = 0
        while True:
            with self._drift_lock:
                if not self._drift_asked or self._stop.is_set():
                    self._drift_draining = False
                    return taken
                self._drift_asked = False
            try:
                while not self._stop.is_set() and (batch := self._drift_batch()):
                    taken += batch
            except SQLAlchemyError:
                # The jobs stay queued (or go stale and back): the next dispatch takes them.
                log.exception("could not judge queued drift jobs")

    def _drift_batch(self) -> int:
        return execute_drift_batch(
            sessions=self._sessions,
            settings=self._settings,
            worker_id=self.worker_id,
            cache=self._cache,
        )

    def _report(self, run_id: int) -> None:
        with self._sessions() as session:
            run = session.get(TrainingRun, run_id)
            if run is None or run.status in OPEN_RUN_STATUSES:
                return  # handed back to the queue: no outcome yet
            if run.started_at is not None and run.finished_at is not None:
                seconds = (run.finished_at - run.started_at).total_seconds()
                self._on_finished(run.status, seconds)
