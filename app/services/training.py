"""Training runs: what to train (`TrainingOptions`) and asking for runs.

`request_training` queues a run (at most one queued or running run per series; the partial
unique index `ix_training_runs_one_open` decides races); `request_retraining` queues many.
Executing a run is the jobs' (`app.jobs.execution`): nothing here imports them, and a commit
that queues a run wakes this process's executor by itself (`app.jobs.dispatch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from sqlalchemy import func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from app.db.models import (
    OPEN_RUN_STATUSES,
    RUN_PRIORITIES,
    ModelVersion,
    RunStatus,
    RunTrigger,
    Series,
    TrainingRun,
    utcnow,
)
from app.db.queued import note_queued
from app.services.channels import MAX_CHANNELS, check_model_channels
from app.services.series import series_by_ids
from app.services.series_data import count_observations, count_observations_of
from app.settings import get_settings
from model.config import CandidateKind, LineModelConfig, automatic_context, default_of
from model.modes import TrainingMode
from model.selection import minimum_rows

# Tries to queue when another request queued a run for the same series meanwhile.
_REQUEST_TRIES = 3


class TrainingOptions(BaseModel):
    """What to train; stored as JSON in `TrainingRun.config` and `ModelVersion.config`.

    Every default is `LineModelConfig`'s (`default_of`), the horizon's the service's setting.
    `context`: None lets the line model choose it from the sampling step (`automatic_context`).
    `known` and `observed`: the series' channels of that role the model reads (none by
    default), checked against its declaration when a run is asked for (`check_trainable`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon: int = Field(default_factory=lambda: get_settings().default_horizon, ge=1, le=10_000)
    context: int | None = Field(default=None, ge=2, le=100_000)
    mode: str = default_of("mode")
    hidden: int = Field(default=default_of("hidden"), ge=1, le=1024)
    layers: int = Field(default=default_of("layers"), ge=1, le=8)
    epochs: int = Field(default=default_of("epochs"), ge=1, le=10_000)
    steps_per_epoch: int = Field(default=default_of("steps_per_epoch"), ge=1, le=100_000)
    seed: int = Field(default=default_of("seed"), ge=0, le=2**32 - 1)
    candidates: list[CandidateKind] = Field(
        default_factory=lambda: list(default_of("candidates")),
        min_length=1,
        description="kinds of model cross-validation may choose from",
    )
    # Strict: JSON's 0 and 1 are numbers, not the boolean the document states.
    warm_start: StrictBool = False
    known: list[str] = Field(
        default_factory=list,
        max_length=MAX_CHANNELS,
        description="known channels (plans) the model reads, their values given for the horizon",
    )
    observed: list[str] = Field(
        default_factory=list,
        max_length=MAX_CHANNELS,
        description="observed channels the model reads up to the forecast origin",
    )

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, mode: str) -> str:
        if mode != "auto":
            TrainingMode.parse(mode)
        return mode

    def line_config(self, series: Series) -> LineModelConfig:
        """The line model these options train for `series` (its grid and time zone)."""
        return LineModelConfig(
            horizon=self.horizon,
            context=self.context,
            mode=self.mode,
            hidden=self.hidden,
            layers=self.layers,
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            seed=self.seed,
            candidates=tuple(self.candidates),
            freq=series.frequency,
            timezone=series.timezone,
            known=tuple(self.known),
            observed=tuple(self.observed),
        )

    @property
    def channels(self) -> list[str]:
        """Every channel the model reads, known then observed."""
        return [*self.known, *self.observed]


def channels_read(config: dict[str, Any]) -> list[str]:
    """The channels a stored version's options (`ModelVersion.config`) read; none for options
    stored before channels existed, or for another kind of version's config."""
    return [*config.get("known", []), *config.get("observed", [])]


def minimum_observations(options: TrainingOptions) -> int:
    """Observations a run needs: the model's rows, then one backtest origin and its horizon.

    With the context left to the model, it is at most a quarter of the rows, which any count
    of 4·H + 64 rows leaves enough of (`model.selection.minimum_rows`).
    """
    return model_rows(options, None) + options.horizon + 1


def check_trainable(*, session: Session, series: Series, options: TrainingOptions) -> None:
    """ValueError naming why the series cannot be trained with `options`, if it cannot."""
    if series.archived_at is not None:
        raise ValueError(f"series {series.id} is archived; archived series are not trained")
    check_model_channels(series, options.known, options.observed)
    have = count_observations(session=session, series_id=series.id)
    need = minimum_observations(options)
    if have < need:
        raise ValueError(_too_few(series.id, have, need, options))


def _too_few(series_id: int, have: int, need: int, options: TrainingOptions) -> str:
    return (
        f"series {series_id} has {have} observations; training with context "
        f"{options.context} and horizon {options.horizon} needs at least {need}"
    )


def open_run(*, session: Session, series_id: int) -> TrainingRun | None:
    query = select(TrainingRun).where(
        TrainingRun.series_id == series_id, TrainingRun.status.in_(OPEN_RUN_STATUSES)
    )
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def request_training(
    *,
    session: Session,
    series_id: int,
    trigger: RunTrigger,
    options: TrainingOptions,
    requested_by: str | None,
) -> tuple[TrainingRun, bool]:
    """Queue a run, or return the series' queued or running one; the bool says which.

    LookupError for an unknown series, ValueError for one that cannot be trained.
    """
    try:
        series = session.get(Series, series_id)
        if series is None:
            raise LookupError(f"series {series_id} not found")
        check_trainable(session=session, series=series, options=options)
        for _ in range(_REQUEST_TRIES):
            existing = open_run(session=session, series_id=series_id)
            if existing is not None:
                session.commit()
                return existing, False
            values = _queued_values(series_id, options.model_dump(), trigger, requested_by)
            run = TrainingRun(**values)
            try:
                # A savepoint: losing the race to another request rolls back only this insert.
                with session.begin_nested():
                    session.add(run)
            except IntegrityError:
                continue
            session.commit()
            return run, True
    except BaseException:
        session.rollback()
        raise
    raise RuntimeError(f"series {series_id}: could neither queue a run nor find the open one")


@dataclass(frozen=True)
class QueuedRun:
    """A series' run after a retraining request: new (`created`), or the open one it had."""

    run_id: int
    series_id: int
    status: RunStatus
    created: bool


@dataclass(frozen=True)
class Retraining:
    """What a retraining request did: the runs, and the series skipped, with why."""

    runs: list[QueuedRun]
    skipped: dict[int, str]


def request_retraining(
    *,
    session: Session,
    series_ids: list[int] | None,
    warm_start: bool,
    requested_by: str | None,
    trigger: RunTrigger,
) -> Retraining:
    """Queue runs for the given series, or for every unarchived one that can be trained; the
    runs in series order, each new or the series' open one.

    Each series is retrained with its active version's options (or the defaults without
    one), with `warm_start` as asked. Given series are all checked before any is queued, so
    one that cannot be trained (LookupError, ValueError) queues nothing; without ids such
    series are skipped.

    Set-based, for the cron endpoint that asks for thousands of series: a few statements in
    all, whatever the count; no artifact is read (only the active versions' options, checked
    when the run executes), and no run is loaded as an object. A series with an active model
    was trainable and is not counted again; its run checks its rows.
    """
    if series_ids is None:
        query = select(Series.id).where(Series.archived_at.is_(None)).order_by(Series.id)
        targets = list(session.scalars(query))
    else:
        targets = []
        for series in series_by_ids(session=session, series_ids=series_ids):
            if series.archived_at is not None:
                raise ValueError(f"series {series.id} is archived; archived series are not trained")
            targets.append(series.id)
    plans, skipped = _retrain_plans(session, targets, warm_start, strict=series_ids is not None)
    try:
        for _ in range(_REQUEST_TRIES):
            runs = _queue_runs(session, plans, warm_start, trigger, requested_by)
            if runs is not None:
                session.commit()
                return Retraining(runs, skipped)
    except BaseException:
        session.rollback()
        raise
    raise RuntimeError("could neither queue the runs nor find the open ones")


# A plan's options: None for "the active version's, as stored", copied by the database itself.
Plan = dict[str, Any] | None


def _retrain_plans(
    session: Session, ids: list[int], warm_start: bool, strict: bool
) -> tuple[dict[int, Plan], dict[int, str]]:
    """Each trainable series' plan, and why each other one is skipped; ValueError for an
    untrainable one when `strict`."""
    modelled = set(
        session.scalars(
            select(ModelVersion.series_id).where(
                ModelVersion.status == "active", ModelVersion.series_id.in_(ids)
            )
        )
    )
    unmodelled = [series_id for series_id in ids if series_id not in modelled]
    counts = count_observations_of(session=session, series_ids=unmodelled)
    defaults = TrainingOptions(warm_start=warm_start)
    need = minimum_observations(defaults)
    plans: dict[int, Plan] = {}
    skipped = {}
    for series_id in ids:
        if series_id in modelled:
            plans[series_id] = None
            continue
        have = counts.get(series_id, 0)
        if have >= need:
            plans[series_id] = defaults.model_dump()
            continue
        reason = _too_few(series_id, have, need, defaults)
        if strict:
            raise ValueError(reason)
        skipped[series_id] = reason
    return plans, skipped


def _queue_runs(
    session: Session,
    plans: dict[int, Plan],
    warm_start: bool,
    trigger: RunTrigger,
    requested_by: str | None,
) -> list[QueuedRun] | None:
    """Insert a queued run for each planned series without an open one, in two statements
    and one savepoint; None when another request queued one of them meanwhile (look again).

    Runs of series with an active version copy its options inside the database (INSERT ...
    SELECT): sending 5,000 option documents over the wire took 1.1 s of a 1.5 s request."""
    query = select(TrainingRun.series_id, TrainingRun.id, TrainingRun.status).where(
        TrainingRun.status.in_(OPEN_RUN_STATUSES), TrainingRun.series_id.in_(list(plans))
    )
    open_runs = {
        series_id: (run_id, status) for series_id, run_id, status in session.execute(query)
    }
    new = [series_id for series_id in plans if series_id not in open_runs]
    copied = [series_id for series_id in new if plans[series_id] is None]
    rows = [
        _queued_values(series_id, config, trigger, requested_by)
        for series_id in new
        if (config := plans[series_id]) is not None
    ]
    try:
        with session.begin_nested():
            created: dict[int, int] = {}
            if copied:
                copy = _copy_active(session, copied, warm_start, trigger, requested_by)
                created.update(session.execute(copy).all())
                # Rows the database made itself: no flush or bulk insert shows them to
                # `app.jobs.dispatch`, so they are noted for it.
                note_queued(session, "runs", len(created))
            # Bulk, returning only the ids: a flush of as many run objects took 1.4 s for
            # 5,000 series, this about a third of that.
            statement = insert(TrainingRun).returning(
                TrainingRun.series_id, TrainingRun.id, sort_by_parameter_order=True
            )
            if rows:
                created.update(session.execute(statement, rows).all())
    except IntegrityError:
        return None
    return [
        QueuedRun(created[series_id], series_id, "queued", True)
        if series_id in created
        else QueuedRun(open_runs[series_id][0], series_id, open_runs[series_id][1], False)
        for series_id in plans
    ]


def _copy_active(
    session: Session,
    series_ids: list[int],
    warm_start: bool,
    trigger: RunTrigger,
    requested_by: str | None,
) -> ReturningInsert[tuple[int, int]]:
    """INSERT ... SELECT of a queued run for each series, with its active version's options
    and `warm_start` set in them; RETURNING (series_id, id)."""
    if session.get_bind().dialect.name == "postgresql":
        flag = func.jsonb_build_object("warm_start", literal(warm_start))
        options = ModelVersion.config.op("||")(flag)
    else:
        options = func.json_set(
            ModelVersion.config, "$.warm_start", func.json(_json_bool(warm_start))
        )
    columns = {
        "series_id": ModelVersion.series_id,
        "status": literal("queued", TrainingRun.status.type),
        "trigger": literal(trigger, TrainingRun.trigger.type),
        "priority": literal(RUN_PRIORITIES[trigger], TrainingRun.priority.type),
        "warm_start": literal(warm_start, TrainingRun.warm_start.type),
        "requested_by": literal(requested_by, TrainingRun.requested_by.type),
        "config": options,
        "message": literal("queued", TrainingRun.message.type),
        "created_at": literal(utcnow(), TrainingRun.created_at.type),
    }
    source = (
        select(*columns.values())
        .where(ModelVersion.status == "active", ModelVersion.series_id.in_(series_ids))
        .order_by(ModelVersion.series_id)
    )
    return (
        insert(TrainingRun)
        .from_select(list(columns), source)
        .returning(TrainingRun.series_id, TrainingRun.id)
    )


def _json_bool(value: bool) -> str:
    return "true" if value else "false"


def _queued_values(
    series_id: int, config: dict[str, Any], trigger: RunTrigger, requested_by: str | None
) -> dict[str, Any]:
    """The columns of a new queued run training with `config` (`TrainingOptions`, dumped)."""
    return {
        "series_id": series_id,
        "status": "queued",
        "trigger": trigger,
        "priority": RUN_PRIORITIES[trigger],
        "warm_start": bool(config.get("warm_start", False)),
        "requested_by": requested_by,
        "config": config,
        "message": "queued",
    }


def model_rows(options: TrainingOptions, step: pd.Timedelta | None, rows: int | None = None) -> int:
    """Grid rows the line model needs before the gate's stretch (see `minimum_observations`)."""
    if options.context is not None:
        return minimum_rows(options.horizon, options.context)
    if step is None or rows is None:
        return 4 * options.horizon + 64
    return minimum_rows(options.horizon, automatic_context(options.horizon, step, rows))
