"""Global runs on the queue: the next one for a worker or the in-process executor, and those
whose process died put back, by the rules of training runs (`app.jobs.worker`).

The oldest queued global run is claimed FOR UPDATE SKIP LOCKED (the lock clause is left out on
SQLite, whose write lock does the same job), so two workers never take the same one. A running
global run silent for `stale_after_seconds` is queued again, or failed after `MAX_ATTEMPTS`
claims. Workers and the executor ask for a global run before a training run: there are few,
each asked for by a person, and each serves a whole scope.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import GlobalRun
from app.jobs import recover_stale_runs, start_run
from app.jobs.global_execution import execute_global_run
from app.settings import Settings

log = logging.getLogger(__name__)


def claim_next_global_run(session: Session, worker_id: str) -> GlobalRun | None:
    """Mark the oldest queued global run as running on `worker_id` and commit; None if none."""
    query = (
        select(GlobalRun)
        .where(GlobalRun.status == "queued")
        .order_by(GlobalRun.created_at, GlobalRun.id)
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


def execute_next_global_run(
    sessions: sessionmaker[Session],
    settings: Settings,
    worker_id: str,
    stop_event: threading.Event | None = None,
) -> int | None:
    """Recover stale global runs, then claim the oldest queued one and take it to its outcome;
    its id, or None when none was queued."""
    with sessions() as session:
        recover_stale_runs(session=session, settings=settings, table=GlobalRun)
        run = claim_next_global_run(session, worker_id)
    if run is None:
        return None
    log.info("%s executing global run %d", worker_id, run.id)
    execute_global_run(
        run.id,
        session_factory=sessions,
        settings=settings,
        worker_id=worker_id,
        stop_event=stop_event,
    )
    return run.id


def queued_global_runs(session: Session) -> int:
    """How many global runs wait: what an executor starting up dispatches for."""
    query = select(func.count()).select_from(GlobalRun).where(GlobalRun.status == "queued")
    return session.scalar(query) or 0
