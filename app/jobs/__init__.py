"""Training jobs: a run's life on the database, shared by the worker and the in-process executor.

    queued --claim--> running --outcome--> succeeded | rejected | failed
                         |--stopped gracefully--> queued (the attempt is not counted)
                         `--heartbeat stale-----> queued, or failed after MAX_ATTEMPTS

A running run belongs to one claim, (worker_id, attempts): every write of a running run
checks both, so a worker that was declared dead and comes back cannot overwrite the run
another worker has claimed since; it finds its writes refused (`RunLost`) and drops the run.
The package's modules: `execution` (a run from claim to stored outcome), `worker` (a polling
process), `executor` (threads in the API) and `dispatch` (commits that queue runs wake it).
A global run (`GlobalRun`, `global_runs`) lives the same life through the same claims and
heartbeats, on its own table (`RunClaim.table`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import GlobalRun, TrainingRun, utcnow
from app.settings import Settings
from model.trainer import TrainingStopped

log = logging.getLogger(__name__)

# Claims of a run whose worker stopped sending heartbeats before it is given up as failed.
MAX_ATTEMPTS = 3


class RunInterrupted(Exception):
    """The worker is stopping; the run goes back to the queue."""


class RunLost(Exception):
    """The run is no longer this claim's (declared dead and re-queued meanwhile)."""


# A table whose rows live the run's life above.
RunTable = type[TrainingRun] | type[GlobalRun]


@dataclass(frozen=True)
class RunClaim:
    run_id: int
    worker_id: str
    attempt: int
    table: RunTable = TrainingRun

    def owns(self) -> ColumnElement[bool]:
        """The condition every write of the running run carries."""
        table = self.table
        return and_(
            table.id == self.run_id,
            table.status == "running",
            table.worker_id == self.worker_id,
            table.attempts == self.attempt,
        )

    def matches(self, run: TrainingRun | GlobalRun) -> bool:
        return (run.id, run.status, run.worker_id, run.attempts) == (
            self.run_id,
            "running",
            self.worker_id,
            self.attempt,
        )


def start_run(run: TrainingRun | GlobalRun, *, worker_id: str) -> RunClaim:
    """Mark a queued run, locked by the caller's transaction, as running on `worker_id`."""
    now = utcnow()
    run.status, run.worker_id, run.attempts = "running", worker_id, run.attempts + 1
    run.started_at, run.heartbeat_at, run.progress = now, now, 0.0
    run.message = f"started on {worker_id} (attempt {run.attempts})"
    return RunClaim(run.id, worker_id, run.attempts, type(run))


def claim_run(
    sessions: sessionmaker[Session], run_id: int, worker_id: str, table: RunTable = TrainingRun
) -> RunClaim | None:
    """Start a queued run, or go on with one `worker_id` already started; None for any other
    (finished, or running elsewhere: two executors racing for one run get one claim)."""
    with sessions.begin() as session:
        run = session.get(table, run_id, with_for_update=True)
        if run is None:
            log.warning("%s %d does not exist", table.__tablename__, run_id)
            return None
        if run.status == "queued":
            return start_run(run, worker_id=worker_id)
        if run.status == "running" and run.worker_id == worker_id:
            return RunClaim(run.id, worker_id, run.attempts, table)
        log.info("run %d is %s on %s; not executing it", run_id, run.status, run.worker_id)
        return None


class Heartbeat:
    """Writes the run's heartbeat from a thread while it executes, and progress when asked.

    The thread matters because one epoch can outlast `stale_after_seconds`: with heartbeats
    only between epochs a live run would look dead. `lost` turns true once a write finds the
    run no longer the claim's.
    """

    def __init__(self, sessions: sessionmaker[Session], claim: RunClaim, every: float) -> None:
        self._sessions, self._claim, self._every = sessions, claim, every
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"heartbeat-run-{claim.run_id}", daemon=True
        )
        self.lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def beat(self, **fields: Any) -> None:
        """Write the heartbeat (and `fields`); raise RunLost if the run is not ours any more."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(self._claim.table)
                .where(self._claim.owns())
                .values(heartbeat_at=utcnow(), **fields)
                .execution_options(synchronize_session=False)
            )
        if result.rowcount == 0:
            self.lost = True
        if self.lost:
            raise RunLost

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.beat()
            except RunLost:
                return
            except SQLAlchemyError:
                # The next beat may get through; a run that stays silent is recovered anyway.
                log.warning("heartbeat of run %d not written", self._claim.run_id, exc_info=True)


def release_run(sessions: sessionmaker[Session], claim: RunClaim) -> None:
    """Put an interrupted run back in the queue. The stop was not the run's fault, so this
    attempt does not count towards `MAX_ATTEMPTS`."""
    _finish(
        sessions,
        claim,
        status="queued",
        worker_id=None,
        attempts=claim.attempt - 1,
        started_at=None,
        heartbeat_at=None,
        progress=0.0,
        message=f"re-queued: worker {claim.worker_id} stopped before the run finished",
    )


def fail_run(sessions: sessionmaker[Session], claim: RunClaim, error: BaseException) -> None:
    """End the run as failed with the error's type and first line."""
    text = error_text(error)
    _finish(sessions, claim, status="failed", error=text, message=text, finished_at=utcnow())


def error_text(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _finish(sessions: sessionmaker[Session], claim: RunClaim, **values: Any) -> None:
    try:
        with sessions.begin() as session:
            session.execute(
                update(claim.table)
                .where(claim.owns())
                .values(**values)
                .execution_options(synchronize_session=False)
            )
    except SQLAlchemyError:
        # Left running: its heartbeat stops with this worker, and recovery takes it from there.
        log.exception("could not record the end of run %d", claim.run_id)


STALE_MESSAGE = "re-queued: worker stopped sending heartbeats"


def recover_stale_runs(
    *,
    session: Session,
    settings: Settings,
    now: datetime | None = None,
    table: RunTable = TrainingRun,
) -> list[int]:
    """Re-queue running runs of `table` silent for `stale_after_seconds`, or fail those
    claimed `MAX_ATTEMPTS` times already; returns their ids. Commits."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings.stale_after_seconds)
    last_sign = func.coalesce(table.heartbeat_at, table.started_at, table.created_at)
    query = (
        select(table)
        .where(table.status == "running", last_sign < cutoff)
        .order_by(table.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    try:
        runs = list(session.scalars(query))
        for run in runs:
            if run.attempts < MAX_ATTEMPTS:
                log.warning(
                    "%s %d on %s stopped sending heartbeats; re-queued",
                    table.__tablename__,
                    run.id,
                    run.worker_id,
                )
                run.status, run.message, run.progress = "queued", STALE_MESSAGE, 0.0
                run.worker_id, run.started_at, run.heartbeat_at = None, None, None
            else:
                text = (
                    f"worker stopped sending heartbeats on each of {run.attempts} attempts; "
                    "giving up"
                )
                log.warning("%s %d failed: %s", table.__tablename__, run.id, text)
                run.status, run.message, run.error, run.finished_at = "failed", text, text, now
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return [run.id for run in runs]


def run_claimed(
    sessions: sessionmaker[Session],
    claim: RunClaim,
    settings: Settings,
    body: Callable[[Heartbeat], None],
) -> None:
    """Run `body` under the claim's heartbeat and settle the run whatever happens: a stop
    (`RunInterrupted`, `TrainingStopped`) hands it back to the queue, a lost claim drops it,
    and any other error ends it as failed, with the error's type and first line. Training
    and global runs alike end here, so they cannot drift apart in how they settle."""
    name = claim.table.__tablename__
    try:
        with Heartbeat(sessions, claim, settings.heartbeat_seconds) as heartbeat:
            body(heartbeat)
    except (RunInterrupted, TrainingStopped):
        release_run(sessions, claim)
    except RunLost:
        log.warning(
            "%s %d was taken from %s (declared dead); dropped",
            name,
            claim.run_id,
            claim.worker_id,
        )
    except Exception as error:
        log.exception("%s %d failed", name, claim.run_id)
        fail_run(sessions, claim, error)
