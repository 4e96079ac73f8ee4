"""What the dashboard reads: the dashboard views of migration 0003, and a few plain tables.

Read-only: nothing here adds, changes or locks a row. The views are mapped as classes of their
own declarative base, outside `app.db.models.Base`, so Alembic's comparison of models and
migrations never sees them, while queries still get typed columns: on SQLite, where a view
hands back stamps as text, `UTCDateTime` turns them into aware datetimes as for a table.
The classes' columns are the views' columns, as docs/dashboard.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Boolean, Float, Integer, String, Text, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, defer, mapped_column

from app.db.models import (
    DriftMetric,
    DriftStatus,
    JSONType,
    ModelVersion,
    Observation,
    Series,
    TrainingRun,
    UTCDateTime,
)
from app.services.backtest_report import VersionBacktest, backtest_of

# Worst first: the order tables and charts of drift metrics are shown in.
SEVERITY: dict[str | None, int] = {"alert": 0, "warn": 1, "unknown": 2, "ok": 3, None: 4}
CONTEXT_PER_STEP = 3
PAST_FORECASTS = 8
# Readings drawn under the past forecasts, at most (their span is a few horizons).
PAST_ACTUALS = 5_000


class _View(DeclarativeBase):
    """Base of the view classes; its metadata is never given to Alembic or `create_all`."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


class SeriesHealthRow(_View):
    """A row of `v_series_health`: one series at a glance."""

    __tablename__ = "v_series_health"

    series_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    plant: Mapped[str | None] = mapped_column(String)
    line: Mapped[str | None] = mapped_column(String)
    unit: Mapped[str | None] = mapped_column(String)
    archived: Mapped[bool] = mapped_column(Boolean)
    last_observation_at: Mapped[datetime | None]
    observation_count: Mapped[int] = mapped_column(Integer)
    active_model_version: Mapped[int | None] = mapped_column(Integer)
    active_model_id: Mapped[int | None] = mapped_column(Integer)
    active_model_promoted_at: Mapped[datetime | None]
    latest_drift_status: Mapped[DriftStatus | None] = mapped_column(String)
    latest_drift_at: Mapped[datetime | None]
    open_runs: Mapped[int] = mapped_column(Integer)
    last_run_status: Mapped[str | None] = mapped_column(String)
    last_run_finished_at: Mapped[datetime | None]


class ForecastVsActualRow(_View):
    """A row of `v_forecast_vs_actual`: one forecast step and, once it arrived, its reading."""

    __tablename__ = "v_forecast_vs_actual"

    series_id: Mapped[int] = mapped_column(Integer)
    prediction_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String)
    forecast_id: Mapped[str] = mapped_column(String)
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    model_version_id: Mapped[int] = mapped_column(Integer)
    origin: Mapped[datetime]
    ts: Mapped[datetime]
    step: Mapped[int] = mapped_column(Integer)
    median: Mapped[float] = mapped_column(Float)
    lower: Mapped[float] = mapped_column(Float)
    upper: Mapped[float] = mapped_column(Float)
    actual: Mapped[float | None] = mapped_column(Float)
    error: Mapped[float | None] = mapped_column(Float)
    abs_error: Mapped[float | None] = mapped_column(Float)
    inside_interval: Mapped[bool | None] = mapped_column(Boolean)


class LatestDriftRow(_View):
    """A row of `v_latest_drift`: the latest judgement of one (series, kind, metric)."""

    __tablename__ = "v_latest_drift"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(Integer)
    model_version_id: Mapped[int | None] = mapped_column(Integer)
    computed_at: Mapped[datetime]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String)
    metric: Mapped[str] = mapped_column(String)
    value: Mapped[float | None] = mapped_column(Float)
    warn_threshold: Mapped[float | None] = mapped_column(Float)
    alert_threshold: Mapped[float | None] = mapped_column(Float)
    direction: Mapped[str] = mapped_column(String)
    status: Mapped[DriftStatus] = mapped_column(String)
    details: Mapped[dict[str, Any]]
    action: Mapped[str | None] = mapped_column(Text)
    training_run_id: Mapped[int | None] = mapped_column(Integer)


@dataclass(frozen=True)
class SeriesPage:
    """Everything the page of one series shows, read in one session.

    `history`: the last readings, oldest first. `forecast`: the steps of the latest stored
    forecast with their actuals; `forecast_context`: the readings up to its origin.
    `drift_history`: metric rows, oldest window first; `latest_drift`: worst status first.
    `runs` and `versions`: newest first (versions without their artifacts).
    `past_forecasts`: the steps of the latest `PAST_FORECASTS` forecasts, oldest forecast
    first; `past_actuals`: the readings from the first of their origins to their last stamp.
    """

    series: Series
    health: SeriesHealthRow
    history: list[tuple[datetime, float]]
    forecast: list[ForecastVsActualRow]
    forecast_context: list[tuple[datetime, float]]
    latest_drift: list[LatestDriftRow]
    drift_history: list[DriftMetric]
    runs: list[TrainingRun]
    versions: list[ModelVersion]
    past_forecasts: list[ForecastVsActualRow]
    past_actuals: list[tuple[datetime, float]]

    @property
    def gate(self) -> VersionBacktest | None:
        """The latest gate the active version took part in, with its errors by step: that of
        the newest later candidate judged against it, else its own; None without a breakdown
        (or without an active version)."""
        active = next((v for v in self.versions if v.status == "active"), None)
        if active is None:
            return None
        for version in self.versions:  # newest first
            judged = version.metrics.get("active_version_id") == active.id
            if (version.version > active.version and judged) or version.id == active.id:
                backtest = backtest_of(version)
                if backtest.document is not None:
                    return backtest
        return None

    @property
    def chosen_version(self) -> ModelVersion | None:
        """The version whose candidate table the page shows: the active one, else the newest
        with a table (versions stored before tables were kept have none)."""
        ordered = sorted(self.versions, key=lambda version: version.status != "active")
        return next((version for version in ordered if version.selection), None)

    @property
    def arrived(self) -> list[ForecastVsActualRow]:
        """The forecast's steps whose actual reading has arrived."""
        return [step for step in self.forecast if step.actual is not None]

    @property
    def forecast_mae(self) -> float | None:
        """Mean absolute error over the arrived steps; None before any arrived."""
        arrived = self.arrived
        return sum(step.abs_error or 0.0 for step in arrived) / len(arrived) if arrived else None

    @property
    def forecast_coverage(self) -> float | None:
        """Share of the arrived actuals inside the forecast's interval; None before any."""
        arrived = self.arrived
        return (
            sum(bool(step.inside_interval) for step in arrived) / len(arrived) if arrived else None
        )


def overview(*, session: Session) -> list[SeriesHealthRow]:
    """Every series, live ones first, then by plant, line and name."""
    query = select(SeriesHealthRow).order_by(
        SeriesHealthRow.archived,
        SeriesHealthRow.plant,
        SeriesHealthRow.line,
        SeriesHealthRow.name,
    )
    return list(session.scalars(query))


def series_page(
    *,
    session: Session,
    series_id: int,
    points: int,
    drift_rows: int,
    runs: int,
) -> SeriesPage | None:
    """The page of one series, or None if there is no such series.

    `points`: readings in the history; `drift_rows`: the most recent drift rows charted;
    `runs`: runs listed. The forecast comes with `CONTEXT_PER_STEP` readings per forecast step
    before its origin, enough to see whether it continues the series.
    """
    series = session.get(Series, series_id)
    health = session.get(SeriesHealthRow, series_id)
    if series is None or health is None:
        return None
    forecast = latest_forecast(session=session, series_id=series_id)
    context = (
        readings(
            session=session,
            series_id=series_id,
            last=CONTEXT_PER_STEP * len(forecast),
            until=forecast[0].origin,
        )
        if forecast
        else []
    )
    latest = session.scalars(select(LatestDriftRow).where(LatestDriftRow.series_id == series_id))
    past = past_forecasts(session=session, series_id=series_id, last=PAST_FORECASTS)
    return SeriesPage(
        series=series,
        health=health,
        history=readings(session=session, series_id=series_id, last=points),
        forecast=forecast,
        forecast_context=context,
        latest_drift=sorted(latest, key=lambda row: (SEVERITY[row.status], row.kind, row.metric)),
        drift_history=drift_history(session=session, series_id=series_id, last=drift_rows),
        runs=recent_runs(session=session, series_id=series_id, last=runs),
        versions=versions(session=session, series_id=series_id),
        past_forecasts=past,
        past_actuals=(
            readings_between(
                session=session,
                series_id=series_id,
                start=min(row.origin for row in past),
                end=max(row.ts for row in past),
                last=PAST_ACTUALS,
            )
            if past
            else []
        ),
    )


def readings(
    *, session: Session, series_id: int, last: int, until: datetime | None = None
) -> list[tuple[datetime, float]]:
    """The series' `last` readings (up to and including `until`), oldest first."""
    query = select(Observation.ts, Observation.value).where(Observation.series_id == series_id)
    if until is not None:
        query = query.where(Observation.ts <= until)
    newest_first = session.execute(query.order_by(Observation.ts.desc()).limit(last))
    return [(ts, value) for ts, value in reversed(newest_first.all())]


def readings_between(
    *, session: Session, series_id: int, start: datetime, end: datetime, last: int
) -> list[tuple[datetime, float]]:
    """The series' last `last` readings with start <= ts <= end, oldest first."""
    query = select(Observation.ts, Observation.value).where(
        Observation.series_id == series_id, Observation.ts >= start, Observation.ts <= end
    )
    newest_first = session.execute(query.order_by(Observation.ts.desc()).limit(last))
    return [(ts, value) for ts, value in reversed(newest_first.all())]


def past_forecasts(*, session: Session, series_id: int, last: int) -> list[ForecastVsActualRow]:
    """The steps of the series' `last` most recently stored forecasts, oldest forecast first
    and by step within each."""
    newest = (
        select(
            ForecastVsActualRow.forecast_id,
            func.max(ForecastVsActualRow.prediction_id).label("newest"),
        )
        .where(ForecastVsActualRow.series_id == series_id)
        .group_by(ForecastVsActualRow.forecast_id)
        .order_by(func.max(ForecastVsActualRow.prediction_id).desc())
        .limit(last)
        .subquery()
    )
    query = (
        select(ForecastVsActualRow)
        .join(newest, newest.c.forecast_id == ForecastVsActualRow.forecast_id)
        .where(ForecastVsActualRow.series_id == series_id)
        .order_by(newest.c.newest, ForecastVsActualRow.step)
    )
    return list(session.scalars(query))


def latest_forecast(*, session: Session, series_id: int) -> list[ForecastVsActualRow]:
    """The steps of the series' most recently stored forecast, by step; empty if none."""
    # Prediction ids grow with every insert, so the greatest belongs to the latest forecast.
    latest_forecast_id = (
        select(ForecastVsActualRow.forecast_id)
        .where(ForecastVsActualRow.series_id == series_id)
        .order_by(ForecastVsActualRow.prediction_id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(ForecastVsActualRow)
        .where(
            ForecastVsActualRow.series_id == series_id,
            ForecastVsActualRow.forecast_id == latest_forecast_id,
        )
        .order_by(ForecastVsActualRow.step)
    )
    return list(session.scalars(query))


def drift_history(*, session: Session, series_id: int, last: int) -> list[DriftMetric]:
    """The series' `last` drift rows by window end, oldest first."""
    query = (
        select(DriftMetric)
        .where(DriftMetric.series_id == series_id)
        .order_by(DriftMetric.window_end.desc(), DriftMetric.id.desc())
        .limit(last)
    )
    return list(reversed(session.scalars(query).all()))


def recent_runs(*, session: Session, series_id: int, last: int) -> list[TrainingRun]:
    """The series' `last` training runs, newest first."""
    query = (
        select(TrainingRun)
        .where(TrainingRun.series_id == series_id)
        .order_by(TrainingRun.created_at.desc(), TrainingRun.id.desc())
        .limit(last)
    )
    return list(session.scalars(query))


def versions(*, session: Session, series_id: int) -> list[ModelVersion]:
    """Every model version of the series, newest first, without loading the artifacts."""
    # raiseload: a template touching the artifact fails instead of pulling every blob.
    query = (
        select(ModelVersion)
        .where(ModelVersion.series_id == series_id)
        .options(defer(ModelVersion.artifact, raiseload=True))
        .order_by(ModelVersion.version.desc())
    )
    return list(session.scalars(query))
