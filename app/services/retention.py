"""Retention: old predictions, old drift rows and old retired or rejected models are deleted.

A plant of thousands of series stores millions of prediction rows a day; nothing removed them.
`prune` deletes in batches of `batch_size` rows, each batch its own short transaction, so no
lock is held for long and ingest, forecasts and the drift monitor go on meanwhile; a pruning
stopped half-way has removed whole batches and is simply run again.

What goes (the settings say how long, `app.settings`):

* predictions served more than `keep_predictions_days` ago (the drift monitor reads the last
  `drift_window_steps + drift_reference_steps` steps of them; the default keeps three months);
* drift metrics computed more than `keep_drift_days` ago, and drift jobs that finished as
  long ago (a queued or running job is never touched);
* retired and rejected model versions beyond the newest `keep_retired_versions` of each series
  (their artifacts are the database's bulk), once no prediction still refers to them. The
  active version, candidates in training and the newest retired ones, which an operator may
  restore, are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, delete, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import DriftJob, DriftMetric, ModelVersion, Prediction, utcnow
from app.settings import Settings

DEFAULT_BATCH_SIZE = 5_000

Prunable = Prediction | DriftMetric | DriftJob | ModelVersion


@dataclass(frozen=True)
class PruneCounts:
    """Rows deleted (or, on a dry run, that would be) in each table."""

    predictions: int
    drift_metrics: int
    model_versions: int
    drift_jobs: int


def prune(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneCounts:
    """Delete what retention allows (see the module), `batch_size` rows a transaction."""
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    now = now or utcnow()
    run = _count if dry_run else _delete_in_batches
    drift_cutoff = now - timedelta(days=settings.keep_drift_days)
    return PruneCounts(
        predictions=run(
            sessions,
            Prediction,
            Prediction.created_at < now - timedelta(days=settings.keep_predictions_days),
            batch_size,
        ),
        drift_metrics=run(
            sessions,
            DriftMetric,
            DriftMetric.computed_at < drift_cutoff,
            batch_size,
        ),
        model_versions=run(
            sessions,
            ModelVersion,
            ModelVersion.id.in_(_surplus_versions(settings.keep_retired_versions)),
            batch_size,
        ),
        # finished_at is NULL for jobs still open: the comparison keeps them.
        drift_jobs=run(sessions, DriftJob, DriftJob.finished_at < drift_cutoff, batch_size),
    )


def _surplus_versions(keep: int) -> Select[tuple[int]]:
    """Ids of the retired or rejected versions past each series' newest `keep` of them that
    no prediction refers to (those wait until their predictions are pruned)."""
    newest_first = (
        func.row_number()
        .over(partition_by=ModelVersion.series_id, order_by=ModelVersion.version.desc())
        .label("rank")
    )
    ranked = (
        select(ModelVersion.id, newest_first)
        .where(ModelVersion.status.in_(("retired", "rejected")))
        .subquery()
    )
    referenced = exists().where(Prediction.model_version_id == ranked.c.id)
    return select(ranked.c.id).where(ranked.c.rank > keep, ~referenced)


def _delete_in_batches(
    sessions: sessionmaker[Session],
    model: type[Prunable],
    condition: ColumnElement[bool],
    batch_size: int,
) -> int:
    deleted = 0
    while True:
        batch = select(model.id).where(condition).order_by(model.id).limit(batch_size)
        with sessions.begin() as session:
            result = session.execute(
                delete(model)
                .where(model.id.in_(batch))
                .execution_options(synchronize_session=False)
            )
        deleted += result.rowcount
        if result.rowcount < batch_size:
            return deleted


def _count(
    sessions: sessionmaker[Session],
    model: type[Prunable],
    condition: ColumnElement[bool],
    _batch_size: int,
) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(model.id)).where(condition)) or 0
