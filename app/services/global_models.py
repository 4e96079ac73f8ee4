"""Global models in the service: what to train (`GlobalOptions`), asking for a run, the scope a
model covers, reading stored models, and series versions backed by one.

A global model is trained for a scope: the unarchived series of a plant, of a line, or of a
line of a plant (`selector`). Training is a job (`app.jobs.global_execution`); a commit that
queues one wakes this process's executor (`app.jobs.dispatch`). Each series of the scope gets
its own `ModelVersion` backed by the global model, promoted or rejected by its own gate, so
everything per series (predictions, drift, the registry, rollback, the dashboard) stays as it
is.

Cold start: an unarchived series of a scope that has never had a model in service (no
active and no retired version) is forecast by the scope's active global model from its first
reading; its first forecast creates its global-backed version (`start_cold_start`), so its
predictions have a version like any other. A series whose versions were retired is left
alone: an operator who retired its model meant it not to be served until one is promoted or
trained.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from app.db.models import (
    OPEN_RUN_STATUSES,
    GlobalModelVersion,
    GlobalRun,
    ModelVersion,
    RunTrigger,
    Series,
    utcnow,
)
from app.services.registry import active_version
from app.services.series_data import count_observations_of
from app.services.training import TrainingOptions, minimum_observations
from app.settings import get_settings
from app.text import Text
from model.config import LineModelConfig, default_of
from model.global_model import DEFAULT_EMBEDDING, GlobalModelConfig
from model.global_view import TRAINING_MODE
from model.modes import TrainingMode

# Tries to queue when another request queued a run for the same name meanwhile.
_REQUEST_TRIES = 3
COLD_START_REASON = "cold start"


class GlobalOptions(BaseModel):
    """What to train for a scope; stored as JSON in `GlobalRun.config` and with the model.

    Every default is `LineModelConfig`'s (`default_of`), the horizon's the service's setting,
    as for one series (`TrainingOptions`). `plant` and `line` choose the scope (at least one;
    None matches any). `attributes`: names of numeric series attributes read as static inputs
    (every series of the scope must have each as a number). `embedding`: numbers in each
    series' learned vector, 0 for none.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    plant: Text | None = Field(default=None, max_length=200)
    line: Text | None = Field(default=None, max_length=200)
    horizon: int = Field(default_factory=lambda: get_settings().default_horizon, ge=1, le=10_000)
    context: int | None = Field(default=None, ge=2, le=100_000)
    embedding: int = Field(default=DEFAULT_EMBEDDING, ge=0, le=256)
    attributes: list[Annotated[Text, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50
    )
    mode: str = default_of("mode")
    hidden: int = Field(default=default_of("hidden"), ge=1, le=1024)
    layers: int = Field(default=default_of("layers"), ge=1, le=8)
    epochs: int = Field(default=default_of("epochs"), ge=1, le=10_000)
    steps_per_epoch: int = Field(default=default_of("steps_per_epoch"), ge=1, le=100_000)
    seed: int = Field(default=default_of("seed"), ge=0, le=2**32 - 1)

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, mode: str) -> str:
        if mode != "auto":
            TrainingMode.parse(mode)
        return mode

    @model_validator(mode="after")
    def _scoped(self) -> GlobalOptions:
        if self.plant is None and self.line is None:
            raise ValueError("give a plant, a line or both: the scope of the global model")
        return self

    @property
    def selector(self) -> dict[str, str | None]:
        """Which series the model covers: `{"plant": ..., "line": ...}`, None for any."""
        return {"plant": self.plant, "line": self.line}

    def series_options(self) -> TrainingOptions:
        """The options a member's version records: what retraining it alone would use."""
        return TrainingOptions(
            horizon=self.horizon,
            context=self.context,
            mode=self.mode,
            hidden=self.hidden,
            layers=self.layers,
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            seed=self.seed,
        )

    def global_config(self, timezone: str) -> GlobalModelConfig:
        """The global model these options train; `timezone` places its calendar features."""
        line = LineModelConfig(
            horizon=self.horizon,
            context=self.context,
            mode=self.mode,
            hidden=self.hidden,
            layers=self.layers,
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            seed=self.seed,
            timezone=timezone,
        )
        return GlobalModelConfig(line, embedding=self.embedding)


def scope_series(*, session: Session, selector: dict[str, Any]) -> list[Series]:
    """The unarchived series `selector` covers, by id."""
    query = select(Series).where(Series.archived_at.is_(None))
    if selector.get("plant") is not None:
        query = query.where(Series.plant == selector["plant"])
    if selector.get("line") is not None:
        query = query.where(Series.line == selector["line"])
    return list(session.scalars(query.order_by(Series.id)))


def covers(selector: dict[str, Any], series: Series) -> bool:
    """Whether `series` lies in the scope `selector` names."""
    return all(
        selector.get(field) is None or selector[field] == getattr(series, field)
        for field in ("plant", "line")
    )


def static_attributes(series: Series, names: list[str]) -> dict[str, float]:
    """The series' attributes `names` as numbers; ValueError naming the series and the first
    one missing or not a number."""
    values = {}
    for name in names:
        value = series.attributes.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(
                f"series {series.id} has no numeric attribute {name!r} (it has {value!r})"
            )
        values[name] = float(value)
    return values


def check_scope(*, session: Session, options: GlobalOptions) -> list[Series]:
    """The scope's series; ValueError when it holds none, none with the readings training
    needs, or one to train on without the attributes asked for (a cold start reads its own
    where it has them, else the training mean)."""
    members = scope_series(session=session, selector=options.selector)
    if not members:
        raise ValueError(f"no unarchived series matches the scope {_shown(options.selector)}")
    counts = count_observations_of(session=session, series_ids=[s.id for s in members])
    need = minimum_observations(options.series_options())
    trainable = [series for series in members if counts.get(series.id, 0) >= need]
    if not trainable:
        raise ValueError(
            f"none of the {len(members)} series of the scope {_shown(options.selector)} has "
            f"the {need} observations training needs (horizon {options.horizon}, context "
            f"{options.context})"
        )
    for series in trainable:
        static_attributes(series, options.attributes)
    return members


def request_global_training(
    *,
    session: Session,
    options: GlobalOptions,
    trigger: RunTrigger,
    requested_by: str | None,
) -> tuple[GlobalRun, bool]:
    """Queue a global run, or return the name's queued or running one; the bool says which.
    ValueError for a scope that cannot be trained (`check_scope`); nothing is queued then."""
    try:
        check_scope(session=session, options=options)
        for _ in range(_REQUEST_TRIES):
            existing = open_global_run(session=session, name=options.name)
            if existing is not None:
                session.commit()
                return existing, False
            run = GlobalRun(
                name=options.name,
                status="queued",
                trigger=trigger,
                requested_by=requested_by,
                config=options.model_dump(),
                message="queued",
            )
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
    raise RuntimeError(f"global model {options.name!r}: could neither queue a run nor find one")


def open_global_run(*, session: Session, name: str) -> GlobalRun | None:
    query = select(GlobalRun).where(GlobalRun.name == name, GlobalRun.status.in_(OPEN_RUN_STATUSES))
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def list_global_models(
    *, session: Session, name: str | None = None, limit: int = 100
) -> list[GlobalModelVersion]:
    """Stored global models, newest first, without their artifacts."""
    query = select(GlobalModelVersion).options(defer(GlobalModelVersion.artifact))
    if name is not None:
        query = query.where(GlobalModelVersion.name == name)
    query = query.order_by(GlobalModelVersion.created_at.desc(), GlobalModelVersion.id.desc())
    return list(session.scalars(query.limit(limit)))


def global_members(*, session: Session, global_model_id: int) -> list[ModelVersion]:
    """The series versions a global model backs, by series."""
    query = (
        select(ModelVersion)
        .options(defer(ModelVersion.artifact))
        .where(ModelVersion.global_model_id == global_model_id)
        .order_by(ModelVersion.series_id, ModelVersion.version)
    )
    return list(session.scalars(query))


def serving_global_model(*, session: Session, series: Series) -> GlobalModelVersion | None:
    """The active global model whose scope covers `series`: the most specific scope (plant
    and line before either alone), then the one promoted last."""
    query = (
        select(GlobalModelVersion)
        .options(defer(GlobalModelVersion.artifact))
        .where(GlobalModelVersion.status == "active")
    )
    covering = [stored for stored in session.scalars(query) if covers(stored.selector, series)]
    if not covering:
        return None
    return max(
        covering,
        key=lambda g: (sum(v is not None for v in g.selector.values()), g.promoted_at, g.id),
    )


def backed_version(
    *,
    session: Session,
    series_id: int,
    stored: GlobalModelVersion,
    promote: bool,
    reason: str,
    metrics: dict[str, Any],
    preprocessing: dict[str, Any] | None = None,
    backtest_error: float | None = None,
) -> ModelVersion:
    """Add the series' next version, backed by `stored`: active (retiring the active one
    first) or rejected. The caller holds the series' lock and commits."""
    now = utcnow()
    if promote:
        current = active_version(session=session, series_id=series_id, with_artifact=False)
        if current is not None:
            current.status, current.retired_at = "retired", now
            session.flush()  # before the new active row: one active version at a time
    number = session.scalar(
        select(func.max(ModelVersion.version)).where(ModelVersion.series_id == series_id)
    )
    options = GlobalOptions.model_validate(stored.config["options"])
    version = ModelVersion(
        series_id=series_id,
        version=(number or 0) + 1,
        status="active" if promote else "rejected",
        training_mode=TRAINING_MODE,
        config=options.series_options().model_dump(),
        preprocessing=preprocessing or {},
        metrics={
            "global_model_id": stored.id,
            "global_model": stored.name,
            "global_version": stored.version,
            **metrics,
        },
        selection=None,
        backtest_error=backtest_error,
        artifact=b"",
        artifact_sha256=stored.artifact_sha256,
        promoted_at=now if promote else None,
        status_reason=reason,
        global_model_id=stored.id,
    )
    session.add(version)
    session.flush()
    return version


def start_cold_start(*, session: Session, series: Series) -> ModelVersion:
    """The active version of a series that has none, created now, backed by the active
    global model of its scope (see the module for which series qualify); flushed, for the
    caller to commit with its forecast. LookupError when nothing can serve the series."""
    unserved = LookupError(f"series {series.id} has no active model; train it first")
    if series.archived_at is not None or _ever_served(session, series.id):
        raise unserved
    stored = serving_global_model(session=session, series=series)
    if stored is None:
        raise unserved
    # The series lock orders concurrent first forecasts (and registry changes) of the series.
    session.get(Series, series.id, with_for_update=True)
    current = active_version(session=session, series_id=series.id, with_artifact=False)
    if current is not None:
        return current
    reason = (
        f"{COLD_START_REASON}: no model of its own yet; served by global model "
        f"{stored.name!r} v{stored.version} of scope {_shown(stored.selector)}"
    )
    try:
        with session.begin_nested():
            return backed_version(
                session=session,
                series_id=series.id,
                stored=stored,
                promote=True,
                reason=reason,
                metrics={"cold_start": True},
            )
    except IntegrityError:
        # Another first forecast created it meanwhile (SQLite takes no row lock).
        current = active_version(session=session, series_id=series.id, with_artifact=False)
        if current is None:
            raise
        return current


def _ever_served(session: Session, series_id: int) -> bool:
    query = select(func.count()).where(
        ModelVersion.series_id == series_id, ModelVersion.status.in_(("active", "retired"))
    )
    return bool(session.scalar(query))


def _shown(selector: dict[str, Any]) -> str:
    return ", ".join(f"{field} {selector.get(field)!r}" for field in ("plant", "line"))
