"""`POST /v1/forecasts`: forecast many series in one request, chosen by id or by plant and line.

What a dashboard or an MES asks for a whole line at once; one request per series cost a round
trip, a key check and a commit each. Series that cannot be forecast are listed as skipped
with the reason and the others are served (`app.services.batch_forecasting`); every forecast
served is stored, all in one transaction, as single forecasts are.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api.batch_schemas import MAX_BATCH_SERIES, BatchForecastPublic, BatchForecastRequest
from app.api.drift_schemas import SkippedSeries
from app.api.routes.forecasts import forecast_public
from app.api.schemas import ErrorBody
from app.auth import KeyCheckedFirst, ReadKey
from app.db.models import Series
from app.logging import request_id_var
from app.request_scope import SessionDep
from app.services.batch_forecasting import forecast_many
from app.services.series import series_by_ids

router = APIRouter(route_class=KeyCheckedFirst, tags=["forecasts"])


@router.post(
    "/v1/forecasts",
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def forecast_batch(
    request: Request, body: BatchForecastRequest, key: ReadKey, session: SessionDep
) -> BatchForecastPublic:
    """Forecast every series asked for with its active model (role read): 404 for an unknown
    id or a plant/line with no series, before anything is forecast."""
    try:
        chosen = _chosen(session, body)
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error.args[0])) from None
    archived = {s.id: f"series {s.id} is archived" for s in chosen if s.archived_at is not None}
    batch = forecast_many(
        session=session,
        cache=request.app.state.model_cache,
        series=[s for s in chosen if s.id not in archived],
        horizon=body.horizon,
        quantiles=body.quantiles,
        request_id=request_id_var.get() or uuid.uuid4().hex,
        api_key_id=key.id,
    )
    request.app.state.metrics.forecasts_total.inc(len(batch.results))
    units = {s.id: s.unit for s in chosen}
    skipped = {**archived, **batch.skipped}
    return BatchForecastPublic(
        items=[forecast_public(result, units[result.series_id]) for result in batch.results],
        skipped=[SkippedSeries(series_id=i, reason=r) for i, r in skipped.items()],
    )


def _chosen(session: Session, body: BatchForecastRequest) -> list[Series]:
    if body.series_ids is not None:
        return series_by_ids(session=session, series_ids=body.series_ids)
    scope = [Series.archived_at.is_(None)]
    if body.plant is not None:
        scope.append(Series.plant == body.plant)
    if body.line is not None:
        scope.append(Series.line == body.line)
    count = session.scalar(select(func.count()).select_from(Series).where(*scope)) or 0
    shown = " and ".join(
        f"{name} {value!r}" for name, value in (("plant", body.plant), ("line", body.line)) if value
    )
    if count == 0:
        raise LookupError(f"no unarchived series in {shown}")
    if count > MAX_BATCH_SERIES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{shown} holds {count} series, more than the {MAX_BATCH_SERIES} one request "
            "forecasts: ask by series_ids in parts",
        )
    return list(session.scalars(select(Series).where(*scope).order_by(Series.id)))
