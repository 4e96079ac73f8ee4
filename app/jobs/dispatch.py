"""Waking the executor when a commit queues runs, so no caller has to remember to.

Before, every route that queued a run had to hand it to the in-process executor itself
(`start_in_process`), and the one that forgot left its run waiting until the next restart.
Now the app's session factory tells the executor after each commit that queued runs, however
they were queued (the train endpoint, the cron endpoint, drift's retraining policy, an upload
that triggers training): the runs are counted as the session flushes them or inserts them in
bulk, and dispatched once the transaction has committed, never for one that rolled back.
Drift jobs (`app.jobs.drift_jobs`) are queued by one INSERT ... SELECT that counts nothing; the
function that queues them marks the session, and its commit wakes the executor for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from app.db.models import GlobalRun, TrainingRun
from app.jobs.drift_jobs import drift_queued_in

_QUEUED = "linecast.queued_runs"


def dispatch_on_commit(
    sessions: sessionmaker[Session],
    dispatch: Callable[[int], Any],
    dispatch_drift: Callable[[], Any] | None = None,
) -> None:
    """Call `dispatch(n)` after each commit of a session from `sessions` that queued n runs,
    and `dispatch_drift()` after each that queued drift jobs (`app.jobs.drift_jobs`)."""

    def count_flushed(session: Session, _context: Any) -> None:
        _note(session, sum(1 for row in session.new if _queued(row)))

    def count_bulk(state: ORMExecuteState) -> None:
        mapper = state.bind_mapper
        if state.is_insert and mapper is not None and mapper.class_ is TrainingRun:
            rows = state.parameters if isinstance(state.parameters, list) else [state.parameters]
            _note(state.session, sum(1 for row in rows if row.get("status") == "queued"))

    def dispatch_committed(session: Session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint released: the runs are not visible to the executor yet
        queued = session.info.pop(_QUEUED, 0)
        if queued:
            dispatch(queued)
        if drift_queued_in(session) and dispatch_drift is not None:
            dispatch_drift()

    def forget(session: Session) -> None:
        session.info.pop(_QUEUED, None)
        drift_queued_in(session)

    event.listen(sessions, "after_flush", count_flushed)
    event.listen(sessions, "do_orm_execute", count_bulk)
    event.listen(sessions, "after_commit", dispatch_committed)
    event.listen(sessions, "after_rollback", forget)


def _queued(row: object) -> bool:
    # A global run (`POST /v1/global-models`) is dispatched like a training run.
    return isinstance(row, TrainingRun | GlobalRun) and row.status == "queued"


def _note(session: Session, queued: int) -> None:
    if queued:
        session.info[_QUEUED] = session.info.get(_QUEUED, 0) + queued
