"""Drift of a series' active model: measured over a window, judged, stored, and acted on.

A run judges the latest `drift_window_steps` readings after the active version's training data
against that data (`app.services.drift_inputs` loads both), with four kinds of metric
(`app.drift.measure`):

- performance: the active version's stored predictions whose actuals arrived in the window,
  raw and as ratios to the model's own validation: its forecasts over the stretch after its
  training data (where training ran its backtest), from the same times of day, step by step;
- data: the window's readings against the reference;
- stationarity: the window's residuals (through the model's fitted pipeline) tested, beside
  the training verdict stored with the version;
- prediction: the window's forecast medians against the model's forecasts over its reference,
  from the same times of day.

Rows are upserted on (series, version, kind, metric, window): a run repeated over the same
window updates its rows, and all rows of a run are written in one transaction. With
`drift_auto_retrain` an alert queues a retraining run, at most one per active version (a
retrained model that was rejected is not retried on every run), and the alerting rows say so.
The run is queued first, in its own transaction as `request_training` does; should the rows
then fail to be stored, the next drift run finds the queued run and names it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.json_values import json_safe
from app.db.models import (
    OPEN_RUN_STATUSES,
    DriftKind,
    DriftMetric,
    DriftStatus,
    ModelVersion,
    Prediction,
    Series,
    TrainingRun,
)
from app.drift.measure import Measured
from app.drift.thresholds import DIRECTIONS, worst
from app.services.drift_inputs import NothingToJudge, load_inputs, measure
from app.services.forecasting import ModelCache
from app.services.registry import active_version
from app.services.series import series_by_ids
from app.services.training import TrainingOptions, request_training
from app.settings import Settings

log = logging.getLogger(__name__)

ALL_KINDS: tuple[DriftKind, ...] = ("performance", "data", "stationarity", "prediction")
DRIFT_REQUESTER = "drift monitor"
_UNIQUE_KEY = ("series_id", "model_version_id", "kind", "metric", "window_start", "window_end")


@dataclass(frozen=True)
class Evaluation:
    """What a run measured: the version judged, the window and every metric."""

    version: ModelVersion
    window_start: datetime
    window_end: datetime
    measured: list[Measured]


@dataclass(frozen=True)
class DriftOutcome:
    """A stored run: its rows, and the training run it queued (None if it queued none)."""

    rows: list[DriftMetric]
    queued_run_id: int | None


def run_drift(
    *,
    session: Session,
    series: Series,
    now: datetime,
    settings: Settings,
    cache: ModelCache | None = None,
) -> list[DriftMetric]:
    """Measure every kind over the window ending at `now`, store it and apply the retraining
    policy; [] when there is nothing to judge yet (see `NothingToJudge`)."""
    try:
        return drift_run(
            session=session, series=series, now=now, settings=settings, cache=cache
        ).rows
    except NothingToJudge:
        return []


def drift_run(
    *,
    session: Session,
    series: Series,
    now: datetime,
    settings: Settings,
    kinds: tuple[DriftKind, ...] = ALL_KINDS,
    cache: ModelCache | None = None,
) -> DriftOutcome:
    """`run_drift` for the given kinds, saying which training run it queued; raises
    `NothingToJudge`."""
    evaluation = evaluate_drift(
        session=session, series=series, now=now, settings=settings, kinds=kinds, cache=cache
    )
    action, run_id, created = None, None, False
    if settings.drift_auto_retrain and any(m.status == "alert" for m in evaluation.measured):
        action, run_id, created = _queue_retraining(session, series.id, evaluation.version)
    rows = store_evaluation(
        session=session,
        series_id=series.id,
        evaluation=evaluation,
        action=action,
        training_run_id=run_id,
    )
    return DriftOutcome(rows, run_id if created else None)


def evaluate_drift(
    *,
    session: Session,
    series: Series,
    now: datetime,
    settings: Settings,
    kinds: tuple[DriftKind, ...] = ALL_KINDS,
    cache: ModelCache | None = None,
) -> Evaluation:
    """Measure and judge without storing; `NothingToJudge` when there is nothing to judge."""
    inputs = load_inputs(session=session, series=series, now=now, settings=settings, cache=cache)
    measured = [item for kind in kinds for item in measure(inputs, kind)]
    index = inputs.window.index
    return Evaluation(inputs.version, index[0].to_pydatetime(), index[-1].to_pydatetime(), measured)


def store_evaluation(
    *,
    session: Session,
    series_id: int,
    evaluation: Evaluation,
    action: str | None = None,
    training_run_id: int | None = None,
) -> list[DriftMetric]:
    """Upsert the evaluation's rows in one transaction; `action` and `training_run_id` go on
    the alerting rows (a later run over the same window without an action keeps them)."""
    try:
        rows = [
            _upsert(session, series_id, evaluation, item, action, training_run_id)
            for item in evaluation.measured
        ]
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return rows


def drift_after_ingest(
    *,
    session: Session,
    series_id: int,
    first: datetime,
    last: datetime,
    settings: Settings,
    cache: ModelCache | None = None,
) -> DriftOutcome | None:
    """After readings from `first` to `last` were stored: performance drift over the window
    ending at `last`, if they are actuals of the active version's predictions; None if not.

    Cheap when there is nothing to score (one indexed count). Never raises: an upload must
    not fail because its monitoring did, so errors are logged and the session rolled back.
    """
    try:
        version = active_version(session=session, series_id=series_id, with_artifact=False)
        if version is None:
            return None
        arrived = session.scalar(
            select(func.count())
            .select_from(Prediction)
            .where(
                Prediction.series_id == series_id,  # with ts: the index on (series_id, ts)
                Prediction.ts >= first,
                Prediction.ts <= last,
                Prediction.model_version_id == version.id,
            )
        )
        series = session.get(Series, series_id)
        if not arrived or series is None:
            return None
        return drift_run(
            session=session,
            series=series,
            now=last,
            settings=settings,
            kinds=("performance",),
            cache=cache,
        )
    except NothingToJudge:
        return None
    except Exception:
        session.rollback()
        log.exception("drift after ingest of series %d failed; the upload is stored", series_id)
        return None


@dataclass
class DriftRunCounts:
    """What a scheduled run did: series judged, metrics stored (how many of each status; per
    series the worst and the alerting "kind/metric"), training runs queued, and the series
    skipped with the reason."""

    series: int = 0
    metrics: int = 0
    statuses: dict[DriftStatus, int] = field(default_factory=dict)
    worst: dict[int, DriftStatus | None] = field(default_factory=dict)
    alerting: dict[int, list[str]] = field(default_factory=dict)
    queued_runs: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def run_drift_all(
    *,
    session: Session,
    series_ids: list[int] | None,
    now: datetime,
    settings: Settings,
    cache: ModelCache | None = None,
) -> DriftRunCounts:
    """Run drift for the given series, or for every unarchived series with an active version.

    Unknown ids raise LookupError before anything runs. A series that fails (a corrupt
    artifact, say) is logged and reported as skipped: one broken series must not keep the
    schedule from judging the others.
    """
    if series_ids is None:
        query = (
            select(Series)
            .join(ModelVersion, ModelVersion.series_id == Series.id)
            .where(Series.archived_at.is_(None), ModelVersion.status == "active")
            .order_by(Series.id)
        )
        targets = list(session.scalars(query))
    else:
        targets = series_by_ids(session=session, series_ids=series_ids)
    counts = DriftRunCounts()
    for series in targets:
        if series.archived_at is not None:
            counts.skipped[series.id] = f"series {series.id} is archived"
            continue
        try:
            outcome = drift_run(
                session=session, series=series, now=now, settings=settings, cache=cache
            )
        except NothingToJudge as error:
            counts.skipped[series.id] = str(error)
            continue
        except Exception as error:
            session.rollback()
            log.exception("drift run of series %d failed", series.id)
            first_line = (str(error).splitlines() or [""])[0]
            counts.skipped[series.id] = f"failed: {type(error).__name__}: {first_line}"
            continue
        counts.series += 1
        counts.metrics += len(outcome.rows)
        for row in outcome.rows:
            counts.statuses[row.status] = counts.statuses.get(row.status, 0) + 1
        counts.worst[series.id] = worst([row.status for row in outcome.rows])
        counts.alerting[series.id] = [
            f"{row.kind}/{row.metric}" for row in outcome.rows if row.status == "alert"
        ]
        if outcome.queued_run_id is not None:
            counts.queued_runs.append(outcome.queued_run_id)
    return counts


def drift_rows(
    *,
    session: Session,
    series_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    kind: DriftKind | None = None,
    metric: str | None = None,
    limit: int = 1_000,
) -> list[DriftMetric]:
    """A series' stored metrics whose window ends at start <= window_end < end, oldest
    window first."""
    query = select(DriftMetric).where(DriftMetric.series_id == series_id)
    if start is not None:
        query = query.where(DriftMetric.window_end >= start)
    if end is not None:
        query = query.where(DriftMetric.window_end < end)
    if kind is not None:
        query = query.where(DriftMetric.kind == kind)
    if metric is not None:
        query = query.where(DriftMetric.metric == metric)
    order = (DriftMetric.window_end, DriftMetric.kind, DriftMetric.metric, DriftMetric.id)
    return list(session.scalars(query.order_by(*order).limit(limit)))


@dataclass(frozen=True)
class SeriesDrift:
    """A series' current drift: the latest row of each (kind, metric) and the worst status
    among them (None before its first run)."""

    series: Series
    latest: list[DriftMetric]

    @property
    def status(self) -> DriftStatus | None:
        return worst([row.status for row in self.latest])

    def with_status(self, status: DriftStatus) -> list[DriftMetric]:
        return [row for row in self.latest if row.status == status]


def drift_summary(*, session: Session) -> list[SeriesDrift]:
    """Every unarchived series with its current drift, by series id.

    "Latest" is per (kind, metric), by window end, then computation time: the same rows as
    the `v_latest_drift` view, whichever model version they judged.
    """
    rank = (
        func.row_number()
        .over(
            partition_by=(DriftMetric.series_id, DriftMetric.kind, DriftMetric.metric),
            order_by=(
                DriftMetric.window_end.desc(),
                DriftMetric.computed_at.desc(),
                DriftMetric.id.desc(),
            ),
        )
        .label("rank")
    )
    ranked = select(DriftMetric.id, rank).subquery()
    latest = (
        select(DriftMetric)
        .join(ranked, ranked.c.id == DriftMetric.id)
        .where(ranked.c.rank == 1)
        .order_by(DriftMetric.kind, DriftMetric.metric)
    )
    rows: dict[int, list[DriftMetric]] = {}
    for row in session.scalars(latest):
        rows.setdefault(row.series_id, []).append(row)
    series = session.scalars(select(Series).where(Series.archived_at.is_(None)).order_by(Series.id))
    return [SeriesDrift(item, rows.get(item.id, [])) for item in series]


# -- storing and acting ----------------------------------------------------------------------


def _queue_retraining(
    session: Session, series_id: int, version: ModelVersion
) -> tuple[str, int | None, bool]:
    """Queue a retraining run with the version's options: (what was done, the run's id,
    whether it was created). Once a drift retraining since this version went live has ended
    (its candidate rejected, say), none is queued again until another version is active."""
    since = version.promoted_at or version.created_at
    previous = session.scalars(
        select(TrainingRun)
        .where(
            TrainingRun.series_id == series_id,
            TrainingRun.requested_by == DRIFT_REQUESTER,
            TrainingRun.created_at >= since,
        )
        .order_by(TrainingRun.id.desc())
        .limit(1)
    ).first()
    if previous is not None and previous.status not in OPEN_RUN_STATUSES:
        return (
            f"not queued: retraining run {previous.id} after drift of v{version.version} "
            f"already ended {previous.status}",
            previous.id,
            False,
        )
    options = TrainingOptions.model_validate({**version.config, "warm_start": False})
    try:
        run, created = request_training(
            session=session,
            series_id=series_id,
            trigger="retrain",
            options=options,
            requested_by=DRIFT_REQUESTER,
        )
    except ValueError as error:
        return f"retraining not possible: {error}", None, False
    state = "queued" if created else f"already {run.status}:"
    return f"{state} training run {run.id}", run.id, created


def _upsert(
    session: Session,
    series_id: int,
    evaluation: Evaluation,
    item: Measured,
    action: str | None,
    training_run_id: int | None,
) -> DriftMetric:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert = postgresql.insert(DriftMetric)
    elif dialect == "sqlite":
        insert = sqlite.insert(DriftMetric)
    else:
        raise NotImplementedError(f"storing drift metrics on {dialect} is not supported")
    alerting = item.status == "alert"
    threshold = item.threshold
    values = {
        "series_id": series_id,
        "model_version_id": evaluation.version.id,
        "computed_at": func.now(),
        "window_start": evaluation.window_start,
        "window_end": evaluation.window_end,
        "kind": item.kind,
        "metric": item.metric,
        "value": item.value,
        "warn_threshold": threshold.warn if threshold else None,
        "alert_threshold": threshold.alert if threshold else None,
        "direction": threshold.direction if threshold else DIRECTIONS.get(item.metric, "above"),
        "status": item.status,
        "details": json_safe(item.details),
        "action": action if alerting else None,
        "training_run_id": training_run_id if alerting else None,
    }
    statement = insert.values(values)
    excluded, stored = statement.excluded, DriftMetric.__table__.c
    updates = {name: excluded[name] for name in values if name not in _UNIQUE_KEY}
    # An action taken over this window stays on record when a later run takes none.
    updates["action"] = func.coalesce(excluded.action, stored.action)
    updates["training_run_id"] = func.coalesce(excluded.training_run_id, stored.training_run_id)
    statement = statement.on_conflict_do_update(index_elements=list(_UNIQUE_KEY), set_=updates)
    return session.scalars(
        statement.returning(DriftMetric), execution_options={"populate_existing": True}
    ).one()
