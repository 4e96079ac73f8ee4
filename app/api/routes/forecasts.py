"""`POST /v1/series/{id}/forecast`: forecast with the active model, store it, answer in units.

The answer carries the model version and which of its models forecast (the chosen one, or the
baseline that replaced a first model that failed its gate), the forecast origin (the last
reading used), how many context steps were missing (read as the pipeline's expectation) and,
per step, the stamp and the quantiles asked for. Every step is stored as a prediction row
under a fresh forecast id, with the caller's request id and key, which is what the drift
monitor later scores against the actuals.
"""

from __future__ import annotations

import uuid

import pandas as pd
from fastapi import APIRouter, HTTPException, Request, status

from app.api.deps import SeriesDep
from app.api.model_schemas import ForecastPublic, ForecastRequest, ForecastStep
from app.api.schemas import ErrorBody
from app.auth import KeyCheckedFirst, ReadKey
from app.logging import request_id_var
from app.request_scope import SessionDep
from app.services.forecasting import forecast_series

router = APIRouter(route_class=KeyCheckedFirst, tags=["forecasts"])


@router.post(
    "/v1/series/{series_id}/forecast",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def forecast(
    request: Request, body: ForecastRequest, key: ReadKey, series: SeriesDep, session: SessionDep
) -> ForecastPublic:
    """Forecast the next `horizon` steps (default: the model's) with intervals (role read)."""
    context = None
    if body.context is not None:
        context = pd.DataFrame(
            {"value": [o.value for o in body.context]},
            index=pd.DatetimeIndex([o.ts for o in body.context]).tz_convert("UTC"),
        )
    try:
        result = forecast_series(
            session=session,
            cache=request.app.state.model_cache,
            series=series,
            horizon=body.horizon,
            quantiles=body.quantiles,
            context_frame=context,
            request_id=request_id_var.get() or uuid.uuid4().hex,
            api_key_id=key.id,
        )
    except LookupError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error.args[0])) from None
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    request.app.state.metrics.forecasts_total.inc()
    labels = [f"{q:g}" for q in result.quantiles]
    return ForecastPublic(
        series_id=series.id,
        model_version_id=result.model_version_id,
        model_version=result.model_version,
        forecast_id=result.forecast_id,
        request_id=result.request_id,
        origin=result.origin.to_pydatetime(),
        filled_context=result.filled_context,
        model=result.model,
        unit=series.unit,
        forecast=[
            ForecastStep(step=step, timestamp=stamp, quantiles=dict(zip(labels, row, strict=True)))
            for step, (stamp, row) in enumerate(
                zip(
                    result.stamps.to_pydatetime(),
                    result.values.tolist(),
                    strict=True,
                ),
                start=1,
            )
        ],
    )
