"""Waking the executor when a commit queues runs, so no caller has to remember to.

Before, every route that queued a run had to hand it to the in-process executor itself
(`start_in_process`), and the one that forgot left its run waiting until the next restart.
Now the app's session factory tells the executor after each commit that queued runs, however
they were queued (the train endpoint, the cron endpoint, drift's retraining policy, an upload
that triggers training): the runs are counted as the session flushes them or inserts them in
bulk, and dispatched once the transaction has committed, never for one that rolled back.
Runs and drift jobs queued by an INSERT ... SELECT show no rows to count: the code that queues
them notes the count on the session (`app.db.queued`), and the commit dispatches them too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from app.db.models import GlobalRun, TrainingRun
from app.db.queued import note_queued, take_queued


def dispatch_on_commit(
    sessions: sessionmaker[Session],
    dispatch: Callable[[int], Any],
    dispatch_drift: Callable[[], Any] | None = None,
) -> None:
    """Call `dispatch(n)` after each commit of a session from `sessions` that queued n runs,
    and `dispatch_drift()` after each that queued drift jobs (`app.jobs.drift_jobs`)."""

    def count_flushed(session: Session, _context: Any) -> None:
        note_queued(session, "runs", sum(1 for row in session.new if _queued(row)))

    def count_bulk(state: ORMExecuteState) -> None:
        mapper = state.bind_mapper
        if state.is_insert and mapper is not None and mapper.class_ is TrainingRun:
            # No parameters: an INSERT ... SELECT, whose caller notes what it queued.
            rows = state.parameters if isinstance(state.parameters, list) else [state.parameters]
            queued = sum(1 for row in rows if row and row.get("status") == "queued")
            note_queued(state.session, "runs", queued)

    def dispatch_committed(session: Session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint released: the runs are not visible to the executor yet
        queued = take_queued(session, "runs")
        if queued:
            dispatch(queued)
        if take_queued(session, "drift") and dispatch_drift is not None:
            dispatch_drift()

    def forget(session: Session) -> None:
        take_queued(session, "runs")
        take_queued(session, "drift")

    event.listen(sessions, "after_flush", count_flushed)
    event.listen(sessions, "do_orm_execute", count_bulk)
    event.listen(sessions, "after_commit", dispatch_committed)
    event.listen(sessions, "after_rollback", forget)


def _queued(row: object) -> bool:
    # A global run (`POST /v1/global-models`) is dispatched like a training run.
    return isinstance(row, TrainingRun | GlobalRun) and row.status == "queued"
