"""Forecasts of many series in one request: what a dashboard or an MES asks for a whole line.

One request per series cost a round trip, a key check, a context query, a transaction and a
commit each. Here the active versions come from one query, every context from one more
(PostgreSQL: a LATERAL join reads each series' latest rows through the (series_id, ts) key;
SQLite: a query per series, its single writer being the embedded default for small plants),
each model forecasts its series exactly as `forecast_series` does (`serve_forecast`; a model
that reads channels gets its context and the stored plan of its horizon as there), and all
prediction rows are stored in one statement and one transaction. A global model's series are
forecast through it one after another: each has its own fitted preprocessing.

A series without an active model in the scope of an active global model gets its cold-start
version, as a single forecast would (`start_cold_start`). A series that cannot be forecast (no
model at all, a horizon past its model's, a context its model refuses) is reported as skipped
with the reason; the others are served. A series that
fails for its model's own fault, a corrupt artifact say, is skipped the same way, named.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Integer, column, insert, select, true, values
from sqlalchemy.orm import Session, defer

from app.db.models import ModelVersion, Observation, Prediction, Series
from app.services.forecast_covariates import channels_needed, horizon_known
from app.services.forecasting import ForecastResult, ModelCache, serve_forecast
from app.services.global_models import start_cold_start
from app.services.registry import ArtifactIntegrityError
from app.services.series_data import context_rows, load_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchForecast:
    """The forecasts served, in the order asked, and the series skipped with why."""

    results: list[ForecastResult]
    skipped: dict[int, str]


def forecast_many(
    *,
    session: Session,
    cache: ModelCache,
    series: Sequence[Series],
    horizon: int | None,
    quantiles: list[float] | None,
    request_id: str,
    api_key_id: int | None,
) -> BatchForecast:
    """Forecast each series after its latest reading with its active model and store every
    forecast in one transaction (see the module)."""
    versions = _active_versions(session, [s.id for s in series])
    skipped: dict[int, str] = {}
    models = {}
    for item in series:
        try:
            version = versions.get(item.id) or start_cold_start(session=session, series=item)
            models[item.id] = (version, cache.get(version))
        except (LookupError, ArtifactIntegrityError, ValueError) as error:
            skipped[item.id] = str(error.args[0]) if isinstance(error, LookupError) else str(error)
    rows = max((context_rows(model.context) for _, model in models.values()), default=0)
    # A model that reads channels takes the path of a single forecast: its context with their
    # columns, and the stored plan for the horizon. The rest share one context query.
    plain = [i for i, (_, model) in models.items() if not channels_needed(model)]
    contexts = _contexts(session, plain, rows)
    by_id = {item.id: item for item in series}
    results, stored = [], []
    for series_id, (version, model) in models.items():
        try:
            context, known = contexts.get(series_id), None
            if context is None:
                context = load_frame(
                    session=session,
                    series_id=series_id,
                    last=context_rows(model.context),
                    columns=channels_needed(model),
                )
                known = horizon_known(
                    session=session,
                    series=by_id[series_id],
                    model=model,
                    context=context,
                    given=None,
                )
            served = serve_forecast(
                series_id=series_id,
                version=version,
                model=model,
                context_frame=context.iloc[-context_rows(model.context) :],
                horizon=horizon,
                quantiles=quantiles,
                request_id=request_id,
                api_key_id=api_key_id,
                future_known=known,
            )
        except ValueError as error:
            skipped[series_id] = str(error)
            continue
        results.append(served.result)
        stored.extend(served.rows)
    if stored:
        session.execute(insert(Prediction), stored)
    session.commit()
    return BatchForecast(results, skipped)


def _active_versions(session: Session, series_ids: list[int]) -> dict[int, ModelVersion]:
    query = (
        select(ModelVersion)
        .where(ModelVersion.series_id.in_(series_ids), ModelVersion.status == "active")
        .options(defer(ModelVersion.artifact))
    )
    return {version.series_id: version for version in session.scalars(query)}


def _contexts(session: Session, series_ids: list[int], rows: int) -> dict[int, pd.DataFrame]:
    """Each series' latest `rows` readings as `load_frame` gives them."""
    if not series_ids:
        return {}
    if session.get_bind().dialect.name != "postgresql":
        return {i: load_frame(session=session, series_id=i, last=rows) for i in series_ids}
    wanted = values(column("series_id", Integer), name="wanted").data([(i,) for i in series_ids])
    latest = (
        select(Observation.ts, Observation.value)
        .where(Observation.series_id == wanted.c.series_id)
        .order_by(Observation.ts.desc())
        .limit(rows)
        .lateral()
    )
    query = select(wanted.c.series_id, latest.c.ts, latest.c.value).select_from(
        wanted.join(latest, true())
    )
    table = pd.DataFrame(session.execute(query).all(), columns=["series_id", "ts", "value"])
    table["ts"] = pd.to_datetime(table["ts"], utc=True)
    frames = {
        int(series_id): group.set_index("ts")[["value"]].astype(float).sort_index()
        for series_id, group in table.groupby("series_id", sort=False)
    }
    empty = pd.DataFrame({"value": []}, index=pd.DatetimeIndex([], tz="UTC", name="ts"))
    return {i: frames.get(i, empty) for i in series_ids}
