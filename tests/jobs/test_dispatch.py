"""A commit that queues runs wakes the executor with their count; nothing else does."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import TrainingRun
from app.jobs.dispatch import dispatch_on_commit
from app.services.training import request_retraining, request_training
from tests.factories import new_series, new_training_run
from tests.services.conftest import TINY, add_series, add_version


def test_each_commit_that_queues_runs_dispatches_them_once(
    sessions: sessionmaker[Session], line: pd.DataFrame
) -> None:
    with sessions() as session:
        lines = [add_series(session, line) for _ in range(4)]
        # Retraining copies an active version's options inside the database (INSERT ...
        # SELECT): rows no flush shows, noted for the dispatcher by the code that queues them.
        add_version(session, lines[1].id, b"weights", status="active", config=TINY.model_dump())
    dispatched: list[int] = []

    def dispatch(count: int) -> None:
        # The executor claims from another connection: the runs must be committed by now,
        # not merely released from the savepoint they were inserted in.
        with sessions() as other:
            visible = other.scalar(select(func.count()).select_from(TrainingRun))
        dispatched.append(count)
        assert visible == sum(dispatched), "dispatched before the commit"

    dispatch_on_commit(sessions, dispatch)
    with sessions() as session:
        session.add(new_series())
        session.commit()  # no run: nothing to wake
        request_training(
            session=session, series_id=lines[0].id, trigger="api", options=TINY, requested_by="t"
        )
        # Already open: answered with the queued run, nothing new to dispatch.
        request_training(
            session=session, series_id=lines[0].id, trigger="api", options=TINY, requested_by="t"
        )
        # Three new runs in one commit (the first line's run is open, the new series is empty).
        request_retraining(
            session=session, series_ids=None, warm_start=False, requested_by="t", trigger="retrain"
        )
    assert dispatched == [1, 3]


def test_a_run_flushed_then_rolled_back_is_not_dispatched(
    sessions: sessionmaker[Session], line: pd.DataFrame
) -> None:
    with sessions() as session:
        series = add_series(session, line)
    dispatched: list[int] = []
    dispatch_on_commit(sessions, dispatched.append)
    with sessions() as session:
        session.add(new_training_run(series.id, status="queued"))
        session.flush()
        session.rollback()
        session.add(new_series())
        session.commit()  # a later commit of the same session must not dispatch the lost run
    assert dispatched == []
