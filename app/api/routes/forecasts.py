"""`POST /v1/series/{id}/forecast`: forecast with the active model, store it, answer in units.

The answer carries the model version and which of its models forecast (the chosen one, the
baseline that replaced a first model that failed its gate, or a global model: `gru:global`, or
`gru:global-cold-start` for a series it never trained on, served from its first readings,
`app.services.global_models`), the forecast origin (the last
reading used), how many context steps were missing (read as the pipeline's expectation) and,
per step, the stamp and the quantiles asked for. Every step is stored as a prediction row
under a fresh forecast id, with the caller's request id and key, which is what the drift
monitor later scores against the actuals. A model trained on the series' channels reads them
(`covariates` in the answer): the known ones' values for the horizon come from the request's
`known`, else from the plan stored with the observations; a missing one is a 422 naming it.
"""

from __future__ import annotations

import uuid

import pandas as pd
from fastapi import APIRouter, HTTPException, Request, status

from app.api.deps import SeriesDep
from app.api.model_schemas import ForecastPublic, ForecastRequest, ForecastStep
from app.api.schemas import ErrorBody, ObservationIn
from app.auth import KeyCheckedFirst, ReadKey
from app.logging import request_id_var
from app.request_scope import SessionDep
from app.services.channel_values import named_frame
from app.services.forecasting import ForecastResult, forecast_series

router = APIRouter(route_class=KeyCheckedFirst, tags=["forecasts"])


@router.post(
    "/v1/series/{series_id}/forecast",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def forecast(
    request: Request, body: ForecastRequest, key: ReadKey, series: SeriesDep, session: SessionDep
) -> ForecastPublic:
    """Forecast the next `horizon` steps (default: the model's) with intervals (role read)."""
    context = None if body.context is None else _context_frame(body.context)
    known = None if body.known is None else {step.ts: step.values for step in body.known}
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
            known=known,
        )
    except LookupError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error.args[0])) from None
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    request.app.state.metrics.forecasts_total.inc()
    return forecast_public(result, series.unit)


def forecast_public(result: ForecastResult, unit: str | None) -> ForecastPublic:
    """The answer for one served forecast (also each item of a batch, `batch_forecasts`)."""
    labels = [f"{q:g}" for q in result.quantiles]
    return ForecastPublic(
        series_id=result.series_id,
        model_version_id=result.model_version_id,
        model_version=result.model_version,
        forecast_id=result.forecast_id,
        request_id=result.request_id,
        origin=result.origin.to_pydatetime(),
        filled_context=result.filled_context,
        model=result.model,
        unit=unit,
        covariates=list(result.covariates),
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


def _context_frame(items: list[ObservationIn]) -> pd.DataFrame:
    """The request's readings as a frame, with a column per channel any of them carries;
    stamps with channel values only are not readings of the context."""
    readings = [item for item in items if item.value is not None]
    if not readings:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "context holds no readings, only covariates"
        )
    index = pd.DatetimeIndex(pd.to_datetime([item.ts for item in readings], utc=True), name="ts")
    names = list(dict.fromkeys(name for item in readings for name in item.covariates or {}))
    frame = named_frame(index, [item.covariates for item in readings], names)
    frame.insert(0, "value", [item.value for item in readings])
    return frame
