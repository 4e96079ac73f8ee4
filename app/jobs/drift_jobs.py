"""Drift jobs: `POST /v1/drift/run` queues one per series, and workers judge them in batches.

Judging one series takes tens of milliseconds (its active model forecasts its reference and
its window), so 5,000 series take minutes: far past cron's HTTP timeout when the request did
the work itself. The request now queues, with one INSERT ... SELECT that never reads a model,
and answers 202 with a batch id whose progress `batch_progress` reports.

    queued --claim (a batch, SKIP LOCKED)--> running --> done | skipped | failed
                                               `--silent past stale_after_seconds--> queued,
                                                  or failed after MAX_ATTEMPTS claims

A job is short, so it has no heartbeat: its claim time ages instead. A worker takes a batch of
`CLAIM_BATCH` jobs at a time, between a person's training runs and the nightly retraining
(`app.jobs.worker.Worker.run_once`). Judging a series twice is harmless: its rows are upserted
on their window, so a job re-run after its worker died updates what the first try stored.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, sessionmaker

from app.db.models import DriftJob, ModelVersion, Series, utcnow
from app.db.queued import note_queued
from app.drift.thresholds import worst
from app.jobs import MAX_ATTEMPTS, error_text
from app.services.drift import drift_run
from app.services.drift_inputs import NothingToJudge
from app.services.forecasting import ModelCache
from app.services.series import series_by_ids
from app.settings import Settings

log = logging.getLogger(__name__)

# Jobs one claim takes: enough to keep the claim's round trip small beside the judging
# (~75 ms a series), few enough that a person's training run waits seconds, not minutes.
CLAIM_BATCH = 16


@dataclass(frozen=True)
class DriftQueued:
    """What a drift request queued: its batch, how many jobs, how many series already had one
    queued (they are judged by that job), and the series given that were skipped, with why."""

    batch_id: str
    queued: int
    already_queued: int
    skipped: dict[int, str]


def queue_drift(
    *,
    session: Session,
    series_ids: list[int] | None,
    window_end: datetime,
    requested_by: str | None,
) -> DriftQueued:
    """Queue a drift job for each series given, or for every unarchived series with an active
    version, in one transaction; LookupError for an unknown id, before anything is queued.

    Set-based, so the request takes the same few milliseconds for 5 or 5,000 series. The
    commit wakes an in-process executor (`app.jobs.dispatch`).
    """
    batch_id = uuid.uuid4().hex
    columns = (
        literal(batch_id, DriftJob.batch_id.type),
        Series.id,
        literal("queued", DriftJob.status.type),
        literal(window_end, DriftJob.window_end.type),
        literal(requested_by, DriftJob.requested_by.type),
        literal(utcnow(), DriftJob.created_at.type),
    )
    skipped: dict[int, str] = {}
    if series_ids is None:
        rows = (
            select(*columns)
            .join(ModelVersion, ModelVersion.series_id == Series.id)
            .where(Series.archived_at.is_(None), ModelVersion.status == "active")
        )
    else:
        given = series_by_ids(session=session, series_ids=series_ids)
        skipped = {s.id: f"series {s.id} is archived" for s in given if s.archived_at is not None}
        rows = select(*columns).where(Series.id.in_(sorted({s.id for s in given} - skipped.keys())))
    try:
        wanted = session.scalar(select(func.count()).select_from(rows.subquery())) or 0
        statement = (
            _insert(session)
            .from_select(
                ["batch_id", "series_id", "status", "window_end", "requested_by", "created_at"],
                rows,
            )
            .on_conflict_do_nothing(
                index_elements=["series_id"], index_where=DriftJob.status == "queued"
            )
            # The rows, not the row count: drivers do not all count an INSERT ... SELECT.
            .returning(DriftJob.id)
        )
        queued = len(session.execute(statement).all())
        note_queued(session, "drift", queued)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return DriftQueued(batch_id, queued, wanted - queued, skipped)


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(DriftJob)
    if dialect == "sqlite":
        return sqlite.insert(DriftJob)
    raise NotImplementedError(f"queuing drift jobs on {dialect} is not supported")


@dataclass(frozen=True)
class _Claim:
    job_id: int
    worker_id: str
    attempt: int

    def owns(self) -> ColumnElement[bool]:
        return and_(
            DriftJob.id == self.job_id,
            DriftJob.status == "running",
            DriftJob.worker_id == self.worker_id,
            DriftJob.attempts == self.attempt,
        )


def execute_drift_batch(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    worker_id: str,
    cache: ModelCache | None = None,
    limit: int = CLAIM_BATCH,
) -> int:
    """Claim up to `limit` queued jobs, oldest first, and judge each; the number claimed (0:
    none was queued). A job's own errors end it as failed, never the batch."""
    claims = _claim(sessions, worker_id, limit)
    for claim in claims:
        _execute(sessions, settings, claim, cache)
    return len(claims)


def _claim(sessions: sessionmaker[Session], worker_id: str, limit: int) -> list[_Claim]:
    query = (
        select(DriftJob)
        .where(DriftJob.status == "queued")
        .order_by(DriftJob.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with sessions.begin() as session:
        jobs = list(session.scalars(query))
        now = utcnow()
        for job in jobs:
            job.status, job.worker_id, job.started_at = "running", worker_id, now
            job.attempts += 1
        return [_Claim(job.id, worker_id, job.attempts) for job in jobs]


def _execute(
    sessions: sessionmaker[Session],
    settings: Settings,
    claim: _Claim,
    cache: ModelCache | None,
) -> None:
    with sessions() as session:
        job = session.get(DriftJob, claim.job_id)
        series = session.get(Series, job.series_id) if job is not None else None
        if job is None or series is None:
            return  # the series was deleted meanwhile, and its jobs with it
        if series.archived_at is not None:
            _finish(sessions, claim, status="skipped", message=f"series {series.id} is archived")
            return
        try:
            outcome = drift_run(
                session=session,
                series=series,
                now=job.window_end,
                settings=settings,
                cache=cache,
            )
        except NothingToJudge as error:
            _finish(sessions, claim, status="skipped", message=str(error))
            return
        except Exception as error:
            session.rollback()
            log.exception("drift job %d (series %d) failed", claim.job_id, series.id)
            _finish(sessions, claim, status="failed", message=error_text(error))
            return
    rows = outcome.rows
    _finish(
        sessions,
        claim,
        status="done",
        metrics=len(rows),
        worst=worst([row.status for row in rows]),
        alerting=[f"{row.kind}/{row.metric}" for row in rows if row.status == "alert"],
        training_run_id=outcome.queued_run_id,
    )


def _finish(sessions: sessionmaker[Session], claim: _Claim, **values: object) -> None:
    with sessions.begin() as session:
        session.execute(
            update(DriftJob)
            .where(claim.owns())
            .values(finished_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )


def recover_stale_drift_jobs(
    *, session: Session, settings: Settings, now: datetime | None = None
) -> list[int]:
    """Re-queue jobs running for longer than `stale_after_seconds` (their worker died), or fail
    them after `MAX_ATTEMPTS` claims or when a newer job for the series is queued; their ids.
    Commits."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings.stale_after_seconds)
    newer = aliased(DriftJob)
    queued_since = exists().where(newer.series_id == DriftJob.series_id, newer.status == "queued")
    query = (
        select(DriftJob, queued_since)
        .where(DriftJob.status == "running", DriftJob.started_at < cutoff)
        .order_by(DriftJob.id)
        .with_for_update(skip_locked=True, of=DriftJob)
    )
    try:
        stale = list(session.execute(query))
        for job, superseded in stale:
            if superseded or job.attempts >= MAX_ATTEMPTS:
                why = "a newer job is queued" if superseded else f"{job.attempts} claims"
                job.status, job.finished_at = "failed", now
                job.message = f"worker {job.worker_id} stopped before judging; {why}"
            else:
                log.warning("drift job %d on %s went silent; re-queued", job.id, job.worker_id)
                job.status, job.worker_id, job.started_at = "queued", None, None
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return [job.id for job, _ in stale]


@dataclass
class BatchProgress:
    """Where a drift request's jobs stand: counts by status, the series in alert with their
    metrics, the training runs drift queued, and why series were skipped or failed."""

    batch_id: str
    statuses: dict[str, int] = field(default_factory=dict)
    metrics: int = 0
    worst: dict[int, str | None] = field(default_factory=dict)
    alerting: dict[int, list[str]] = field(default_factory=dict)
    queued_runs: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return not (self.statuses.get("queued") or self.statuses.get("running"))


def batch_progress(*, session: Session, batch_id: str) -> BatchProgress:
    """The batch's progress; LookupError for a batch with no jobs (unknown, or pruned)."""
    jobs = list(
        session.scalars(select(DriftJob).where(DriftJob.batch_id == batch_id).order_by(DriftJob.id))
    )
    if not jobs:
        raise LookupError(f"drift run {batch_id} not found")
    progress = BatchProgress(batch_id, statuses=dict(Counter(job.status for job in jobs)))
    for job in jobs:
        if job.status == "done":
            progress.metrics += job.metrics or 0
            progress.worst[job.series_id] = job.worst
            if job.alerting:
                progress.alerting[job.series_id] = job.alerting
            if job.training_run_id is not None:
                progress.queued_runs.append(job.training_run_id)
        elif job.status == "skipped":
            progress.skipped[job.series_id] = job.message or ""
        elif job.status == "failed":
            progress.failed[job.series_id] = job.message or ""
    return progress
