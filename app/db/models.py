"""The service's tables, as plain SQLAlchemy 2 typed models on one `Base`.

Tables are created by the Alembic migrations in `migrations/`, never by `create_all`; the tests
check that the two agree. What the schema guarantees, on PostgreSQL and on SQLite alike:

- every timestamp is timezone-aware UTC when read back (`UTCDateTime`), and a naive one is
  refused when written, because guessing its zone is how forecasts end up an hour off;
- status, trigger and role columns are short strings held to their allowed values by CHECK
  constraints (portable to SQLite, and changed by swapping one constraint, where a native
  PostgreSQL enum cannot drop a value); the values are exported as `Literal` types and tuples
  for the API schemas and the services;
- a series has at most one `active` model version and at most one queued or running training
  run, and a global model's name one `active` version and one queued or running global run:
  partial unique indexes make the database, not a read-then-write race, decide who wins;
- constraint names follow `NAMING_CONVENTION`, so later migrations can name what they alter.

No relationships are declared: queries join explicitly, so nothing lazy-loads behind a
request's back. `drift_metrics` holds the drift monitor's judgements (`app.drift`), one row per
series, model version, metric and window judged. `global_models` holds networks trained on
every series of a scope at once, and a series' model version may be backed by one of them
(`ModelVersion.global_model_id`). A series declares its channels besides the target
(`Series.channels`); their values live in `channel_values`, one row per series and stamp,
apart from the target's readings: a known channel's plan runs ahead of the last reading, and
every target-only read (training, drift, the dashboard's views) stays as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

VersionStatus = Literal["candidate", "active", "retired", "rejected"]
RunStatus = Literal["queued", "running", "succeeded", "failed", "rejected"]
RunTrigger = Literal["api", "retrain", "cli"]
Role = Literal["read", "write", "admin"]

VERSION_STATUSES: tuple[VersionStatus, ...] = get_args(VersionStatus)
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
# The largest id: ids are 32-bit integer columns. Paths and bodies are held to it, so a larger
# number is a 422 instead of a 500 from the database ("integer out of range").
MAX_ID = 2**31 - 1
OPEN_RUN_STATUSES: tuple[RunStatus, ...] = ("queued", "running")
RUN_TRIGGERS: tuple[RunTrigger, ...] = get_args(RunTrigger)
# Queued runs are claimed by priority, then age: a run a person asked for (the API's train
# endpoint, the CLI) goes before the retraining batch that cron queues for every series.
RUN_PRIORITIES: dict[RunTrigger, int] = {"api": 0, "cli": 0, "retrain": 1}
ROLES: tuple[Role, ...] = get_args(Role)
DriftKind = Literal["performance", "data", "stationarity", "prediction"]
DriftDirection = Literal["above", "below"]
DriftStatus = Literal["ok", "warn", "alert", "unknown"]
DRIFT_KINDS: tuple[DriftKind, ...] = get_args(DriftKind)
DRIFT_DIRECTIONS: tuple[DriftDirection, ...] = get_args(DriftDirection)
DRIFT_STATUSES: tuple[DriftStatus, ...] = get_args(DriftStatus)
DriftJobStatus = Literal["queued", "running", "done", "skipped", "failed"]
DRIFT_JOB_STATUSES: tuple[DriftJobStatus, ...] = get_args(DriftJobStatus)

# JSONB on PostgreSQL (indexable, compact); SQLite stores the same documents as text.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# Prediction rows grow with every request times the horizon; SQLite only autoincrements a
# column declared exactly INTEGER, so it keeps that type there.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that always reads back aware UTC and refuses naive input.

    PostgreSQL returns stamps in the session's zone and SQLite returns them naive; converting
    on the way in and out makes both backends give the same, unambiguous values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, as an aware UTC datetime (what `UTCDateTime` columns accept)."""
    return datetime.now(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    """CHECK `column` IN values, named `ck_<table>_<column>_allowed` by the convention."""
    # Quoted: "trigger" is a keyword in SQLite.
    return CheckConstraint(f'"{column}" IN ({_sql_list(values)})', name=f"{column}_allowed")


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _created_at() -> MappedColumn[datetime]:
    # Both: the ORM knows the value without a round trip; raw SQL inserts get one too.
    return mapped_column(UTCDateTime(), default=utcnow, server_default=func.now())


_ACTIVE_VERSION = text("status = 'active'")
_OPEN_RUN = text(f"status IN ({_sql_list(OPEN_RUN_STATUSES)})")
_QUEUED = text("status = 'queued'")


class Base(DeclarativeBase):
    """The one base: its naming convention gives every constraint a stable, predictable name."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


class Series(Base):
    """One measured quantity of one line; `frequency` is a pandas offset alias ("h", "5min")."""

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    unit: Mapped[str | None] = mapped_column(String(50))
    frequency: Mapped[str | None] = mapped_column(String(16))
    plant: Mapped[str | None] = mapped_column(String(200))
    line: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created_at()
    archived_at: Mapped[datetime | None]
    # [{"name": "setpoint", "role": "known", "unit": "parts/h"}, ...] (`app.services.channels`).
    channels: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, default=list, server_default=text("'[]'")
    )


class Observation(Base):
    """One reading; the key (series_id, ts) makes re-sending a reading a conflict, not a copy."""

    __tablename__ = "observations"

    series_id: Mapped[int] = mapped_column(
        ForeignKey("series.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    ingested_at: Mapped[datetime] = _created_at()


class ChannelValues(Base):
    """The values of a series' channels at one stamp, {name: value}, whether or not the target
    has a reading there: a known channel's plan is uploaded before the readings it goes with.
    Uploads merge by name, so a shift plan and a setpoint plan may arrive separately."""

    __tablename__ = "channel_values"

    series_id: Mapped[int] = mapped_column(
        ForeignKey("series.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    covariates: Mapped[dict[str, Any]]
    ingested_at: Mapped[datetime] = _created_at()


class ModelVersion(Base):
    """A trained model of one series: its artifact, fitted preprocessing and backtest score.

    `artifact_sha256` is checked when the artifact is loaded, so a corrupted blob fails loudly.
    A version backed by a global model (`global_model_id`, `training_mode` "global") is still
    one series' version: predictions, drift, promotion and rollback treat it like any other.
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("series_id", "version"),
        _one_of("status", VERSION_STATUSES),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(
            "ix_model_versions_one_active",
            "series_id",
            unique=True,
            postgresql_where=_ACTIVE_VERSION,
            sqlite_where=_ACTIVE_VERSION,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[VersionStatus] = mapped_column(String(16), default="candidate")
    training_mode: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]]
    preprocessing: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The candidate table cross-validation chose from (`model.selection.SelectionReport`).
    selection: Mapped[dict[str, Any] | None]
    backtest_error: Mapped[float | None] = mapped_column(Float)
    artifact: Mapped[bytes] = mapped_column(LargeBinary)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()
    promoted_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
    status_reason: Mapped[str | None] = mapped_column(Text)
    training_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_runs.id", ondelete="SET NULL")
    )
    # Set for a version served by a global model (`GlobalModelVersion`): its own artifact is
    # then empty and `artifact_sha256` is the global artifact's, checked before every load. No
    # cascade: a global model that versions still point at cannot be deleted from under them.
    global_model_id: Mapped[int | None] = mapped_column(ForeignKey("global_models.id"), index=True)


class TrainingRun(Base):
    """One request to train a series, from queued to a final status, with the worker's progress.

    A run's `model_version_id` and a version's `training_run_id` point at each other; the former
    is added after both tables exist (`use_alter`), as PostgreSQL needs for a cycle.
    """

    __tablename__ = "training_runs"
    __table_args__ = (
        _one_of("status", RUN_STATUSES),
        _one_of("trigger", RUN_TRIGGERS),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index(
            "ix_training_runs_one_open",
            "series_id",
            unique=True,
            postgresql_where=_OPEN_RUN,
            sqlite_where=_OPEN_RUN,
        ),
        # The workers' claim: the most urgent, then the oldest, queued run first.
        Index("ix_training_runs_claim_order", "status", "priority", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), index=True)
    status: Mapped[RunStatus] = mapped_column(String(16), default="queued")
    trigger: Mapped[RunTrigger] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    warm_start: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    requested_by: Mapped[str | None] = mapped_column(String(200))
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    message: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL", use_alter=True)
    )


class Prediction(Base):
    """One step of one served forecast, kept to score it once the actual value arrives.

    `origin` is the stamp of the last observation the forecast used; step k forecasts
    `ts` = origin + k * frequency.
    """

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("forecast_id", "step"),
        CheckConstraint("step >= 1", name="step_positive"),
        CheckConstraint("lower <= median AND median <= upper", name="interval_ordered"),
        Index("ix_predictions_series_id_ts", "series_id", "ts"),
        # Retention deletes the oldest first (app.services.retention).
        Index("ix_predictions_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    # The forecast's own id; the client's request id is only a label for its own logs, so two
    # clients (or one client twice) may send the same one.
    forecast_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    # The key that asked for the forecast; None for forecasts made by the CLI.
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )
    origin: Mapped[datetime]
    ts: Mapped[datetime]
    step: Mapped[int] = mapped_column(Integer)
    median: Mapped[float] = mapped_column(Float)
    lower: Mapped[float] = mapped_column(Float)
    upper: Mapped[float] = mapped_column(Float)
    quantiles: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _created_at()


class AnalysisReport(Base):
    """A stored diagnosis of a window of one series (stationarity, seasonality, outliers)."""

    __tablename__ = "analysis_reports"
    __table_args__ = (CheckConstraint("window_start <= window_end", name="window_ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = _created_at()
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    verdict: Mapped[str] = mapped_column(String(32))
    report: Mapped[dict[str, Any]]


class ApiKey(Base):
    """An API key, stored as the SHA-256 of the key: 32+ random bytes need no slow hash.

    `prefix` (the key's first characters, not secret) finds the row without scanning hashes.
    """

    __tablename__ = "api_keys"
    __table_args__ = (_one_of("role", ROLES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    prefix: Mapped[str] = mapped_column(String(12), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created_at()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # None: the key lives until revoked.
    expires_at: Mapped[datetime | None]


class DriftMetric(Base):
    """One drift metric of one series and model version over one window of data, judged.

    `direction` says which side of the thresholds is bad ("above": the value alerts once it
    reaches `alert_threshold`). `value` is None when the metric could not be computed (too few
    points, no actuals yet), with the reason in `details`, and `status` is then "unknown".
    The unique key makes re-running the monitor over the same window an update, not a copy.
    `action` says what the service did about an alert ("queued training run 12").
    """

    __tablename__ = "drift_metrics"
    __table_args__ = (
        # Named by hand: the convention's name would pass PostgreSQL's 63 characters.
        UniqueConstraint(
            "series_id",
            "model_version_id",
            "kind",
            "metric",
            "window_start",
            "window_end",
            name="uq_drift_metrics_window",
        ),
        _one_of("kind", DRIFT_KINDS),
        _one_of("direction", DRIFT_DIRECTIONS),
        _one_of("status", DRIFT_STATUSES),
        CheckConstraint("window_start <= window_end", name="window_ordered"),
        # The endpoints' and the dashboard's read: a series' metrics over time.
        Index("ix_drift_metrics_series_id_computed_at", "series_id", "computed_at"),
        Index("ix_drift_metrics_computed_at", "computed_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    computed_at: Mapped[datetime] = _created_at()
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    kind: Mapped[DriftKind] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    warn_threshold: Mapped[float | None] = mapped_column(Float)
    alert_threshold: Mapped[float | None] = mapped_column(Float)
    direction: Mapped[DriftDirection] = mapped_column(String(8))
    status: Mapped[DriftStatus] = mapped_column(String(8))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    action: Mapped[str | None] = mapped_column(Text)
    training_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_runs.id", ondelete="SET NULL")
    )


class DriftJob(Base):
    """One series to judge for drift, queued by `POST /v1/drift/run` and executed by a worker.

    Judging thousands of series takes minutes, longer than cron's HTTP timeout, so the request
    only queues (one set-based INSERT) and answers 202; workers claim jobs in batches
    (`app.jobs.drift_jobs`). `batch_id` groups the jobs of one request for its progress
    report. A series has at most one queued job: asking again before the workers got to it
    adds nothing. `window_end` is the request's time, so a job judges the window the caller
    asked about however late it runs. Finished jobs keep their outcome (`status`, `message`,
    the alerting metrics and the training run queued) until `linecast prune` removes them.
    """

    __tablename__ = "drift_jobs"
    __table_args__ = (
        _one_of("status", DRIFT_JOB_STATUSES),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index(
            "ix_drift_jobs_one_queued",
            "series_id",
            unique=True,
            postgresql_where=_QUEUED,
            sqlite_where=_QUEUED,
        ),
        Index("ix_drift_jobs_status_id", "status", "id"),
        Index("ix_drift_jobs_batch_id", "batch_id"),
        Index("ix_drift_jobs_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(32))
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    status: Mapped[DriftJobStatus] = mapped_column(String(16), default="queued")
    window_end: Mapped[datetime]
    requested_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    metrics: Mapped[int | None] = mapped_column(Integer)
    worst: Mapped[str | None] = mapped_column(String(8))
    # "kind/metric" of each metric in alert.
    alerting: Mapped[list[str] | None] = mapped_column(JSONType)
    message: Mapped[str | None] = mapped_column(Text)
    training_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_runs.id", ondelete="SET NULL")
    )


class GlobalModelVersion(Base):
    """One version of a named global model: one network trained on every series of a scope.

    `selector` says which series the scope holds (`{"plant": "p1", "line": null}`: every
    unarchived series of plant p1, any line); a series of the scope without a model of its own
    is forecast by the name's `active` version (a cold start). The series it serves each have a
    `ModelVersion` pointing here, promoted or rejected by their own gate. `config` is the
    `model.global_model.GlobalModelConfig` it was trained with plus the service's options;
    `metrics` its training report and what the member series' gates decided.
    """

    __tablename__ = "global_models"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        _one_of("status", VERSION_STATUSES),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(
            "ix_global_models_one_active",
            "name",
            unique=True,
            postgresql_where=_ACTIVE_VERSION,
            sqlite_where=_ACTIVE_VERSION,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[VersionStatus] = mapped_column(String(16), default="candidate")
    selector: Mapped[dict[str, Any]]
    config: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifact: Mapped[bytes] = mapped_column(LargeBinary)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()
    promoted_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
    status_reason: Mapped[str | None] = mapped_column(Text)


class GlobalRun(Base):
    """One request to train a global model, from queued to a final status: a training run's
    life (`app.jobs`), for a scope instead of a series. At most one is open per name."""

    __tablename__ = "global_runs"
    __table_args__ = (
        _one_of("status", RUN_STATUSES),
        _one_of("trigger", RUN_TRIGGERS),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index(
            "ix_global_runs_one_open",
            "name",
            unique=True,
            postgresql_where=_OPEN_RUN,
            sqlite_where=_OPEN_RUN,
        ),
        Index("ix_global_runs_claim_order", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[RunStatus] = mapped_column(String(16), default="queued")
    trigger: Mapped[RunTrigger] = mapped_column(String(16))
    requested_by: Mapped[str | None] = mapped_column(String(200))
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    message: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    global_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("global_models.id", ondelete="SET NULL")
    )
