"""Drift jobs: queued once per series in one statement, judged by workers in their turn,
recovered when their worker dies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import RUN_PRIORITIES, DriftJob, TrainingRun, utcnow
from app.jobs import MAX_ATTEMPTS
from app.jobs.dispatch import dispatch_on_commit
from app.jobs.drift_jobs import batch_progress, queue_drift, recover_stale_drift_jobs
from app.jobs.worker import Worker
from app.settings import Settings
from tests.factories import new_model_version, new_series, new_training_run


def _series(session: Session, *, active: bool = True, archived: bool = False) -> int:
    series = new_series(archived_at=utcnow() if archived else None)
    session.add(series)
    session.flush()
    if active:
        session.add(new_model_version(series.id, status="active"))
    session.commit()
    return series.id


def _jobs(sessions: sessionmaker[Session]) -> list[DriftJob]:
    with sessions() as session:
        return list(session.scalars(select(DriftJob).order_by(DriftJob.id)))


def test_a_request_queues_one_job_per_series_and_a_repeat_queues_none(
    any_sessions: sessionmaker[Session],
) -> None:
    with any_sessions() as session:
        judged = [_series(session) for _ in range(3)]
        archived = _series(session, archived=True)
        untrained = _series(session, active=False)
        now = utcnow()

        first = queue_drift(session=session, series_ids=None, window_end=now, requested_by="cron")
        assert (first.queued, first.already_queued, first.skipped) == (3, 0, {})
        again = queue_drift(session=session, series_ids=None, window_end=now, requested_by="cron")
        assert (again.queued, again.already_queued) == (0, 3)
        given = queue_drift(
            session=session,
            series_ids=[archived, untrained, judged[0]],
            window_end=now,
            requested_by="ops",
        )
        assert (given.queued, given.already_queued) == (1, 1)
        assert given.skipped == {archived: f"series {archived} is archived"}
        with pytest.raises(LookupError, match="series 999999 not found"):
            queue_drift(session=session, series_ids=[999_999], window_end=now, requested_by="x")

    jobs = _jobs(any_sessions)
    assert [(job.series_id, job.batch_id) for job in jobs] == [
        *[(series_id, first.batch_id) for series_id in judged],
        (untrained, given.batch_id),
    ]
    assert {job.status for job in jobs} == {"queued"}
    assert {job.window_end for job in jobs} == {now}
    with any_sessions() as session:
        progress = batch_progress(session=session, batch_id=first.batch_id)
    assert (progress.statuses, progress.finished) == ({"queued": 3}, False)


def test_only_a_committed_request_wakes_the_executor_for_its_jobs(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        series_id = _series(session)
    woken: list[str] = []
    dispatch_on_commit(
        sessions, lambda count: woken.append(f"runs {count}"), lambda: woken.append("drift")
    )
    with sessions() as session:
        queue_drift(session=session, series_ids=None, window_end=utcnow(), requested_by="t")
        queue_drift(session=session, series_ids=None, window_end=utcnow(), requested_by="t")
        assert woken == ["drift"], "the repeat queued nothing, so it woke nothing"
        session.add(new_training_run(series_id, status="queued"))
        session.flush()
        session.rollback()
    assert woken == ["drift"]


def test_a_worker_takes_a_person_s_run_then_the_drift_jobs_then_the_nightly_batch(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with sessions() as session:
        judged = _series(session)
        asked_for, nightly = (_series(session, active=False) for _ in range(2))
        # Queued first: the nightly run and the drift job; the person's run comes last.
        night = new_training_run(nightly, trigger="retrain", priority=RUN_PRIORITIES["retrain"])
        session.add(night)
        session.commit()
        queued = queue_drift(
            session=session, series_ids=None, window_end=utcnow(), requested_by="t"
        )
        asked = new_training_run(asked_for, trigger="api", priority=RUN_PRIORITIES["api"])
        session.add(asked)
        session.commit()

    done: list[int | None] = []
    with Worker(settings, worker_id="w1") as worker:
        while worker.run_once():
            done.append(worker.last_run_id)  # None: the turn judged drift jobs
            worker.last_run_id = None
    assert done == [asked.id, None, night.id]
    (job,) = _jobs(sessions)
    # The series has no readings to judge yet: skipped, and why.
    assert (job.series_id, job.status, job.worker_id, job.attempts) == (judged, "skipped", "w1", 1)
    assert f"series {judged} has no reading after" in (job.message or "")
    assert job.finished_at is not None
    with sessions() as session:
        progress = batch_progress(session=session, batch_id=queued.batch_id)
        runs = session.scalars(select(TrainingRun.status)).all()
    assert progress.finished and progress.skipped == {judged: job.message}
    assert set(runs) == {"failed"}, "both series have no readings to train on"


def test_jobs_of_a_dead_worker_are_queued_again_or_given_up(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    long_ago = utcnow() - timedelta(seconds=settings.stale_after_seconds + 5)
    with sessions() as session:
        ids = [_series(session) for _ in range(4)]
        running = {"status": "running", "worker_id": "dead", "window_end": utcnow()}
        session.add_all(
            [
                DriftJob(
                    batch_id="a" * 32, series_id=ids[0], started_at=long_ago, attempts=1, **running
                ),
                DriftJob(
                    batch_id="a" * 32,
                    series_id=ids[1],
                    started_at=long_ago,
                    attempts=MAX_ATTEMPTS,
                    **running,
                ),
                DriftJob(
                    batch_id="a" * 32, series_id=ids[2], started_at=long_ago, attempts=1, **running
                ),
                DriftJob(batch_id="b" * 32, series_id=ids[2], status="queued", window_end=utcnow()),
                DriftJob(
                    batch_id="a" * 32, series_id=ids[3], started_at=utcnow(), attempts=1, **running
                ),
            ]
        )
        session.commit()
        recovered = recover_stale_drift_jobs(session=session, settings=settings)
    jobs = _jobs(sessions)
    assert recovered == [job.id for job in jobs[:3]]
    assert [(job.status, job.worker_id) for job in jobs] == [
        ("queued", None),
        ("failed", "dead"),
        ("failed", "dead"),
        ("queued", None),
        ("running", "dead"),
    ]
    assert jobs[1].message == f"worker dead stopped before judging; {MAX_ATTEMPTS} claims"
    assert jobs[2].message == "worker dead stopped before judging; a newer job is queued"
    with sessions() as session:
        queued = select(func.count()).where(DriftJob.status == "queued")
        assert session.scalar(queued.select_from(DriftJob)) == 2
