"""Backtests and exports of a series: what a version's gate compared, and past forecasts with
their actuals, as JSON or CSV (role read)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from app.api.backtest_schemas import BacktestModelErrors, ModelBacktestPublic
from app.api.deps import SeriesDep
from app.api.schemas import ErrorBody
from app.auth import KeyCheckedFirst, ReadKey
from app.db.models import MAX_ID
from app.request_scope import SessionDep
from app.services.backtest_report import VersionBacktest, backtest_csv, version_backtest
from app.services.prediction_export import ExportTooLarge, predictions_csv
from app.stamps import Stamp

router = APIRouter(route_class=KeyCheckedFirst, prefix="/v1/series/{series_id}", tags=["models"])

VersionId = Annotated[int, Path(ge=1, le=MAX_ID, description="the version's id")]


class CSVResponse(Response):
    """A CSV file; the media type is what the OpenAPI document states for these answers."""

    media_type = "text/csv"


_CSV = {"description": "CSV with a header row", "content": {"text/csv": {"schema": {}}}}


def _json_error(description: str) -> dict[str, Any]:
    """An error answer of a CSV route: JSON like every other error (a `model` would be
    documented in the route's CSV media type)."""
    schema = {"$ref": "#/components/schemas/ErrorBody"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@router.get("/models/{version_id}/backtest", responses={404: {"model": ErrorBody}})
def backtest(
    _key: ReadKey, series: SeriesDep, session: SessionDep, version_id: VersionId
) -> ModelBacktestPublic:
    """The errors behind the version's gate, by forecast step and by origin, for the
    candidate, repeat-last, its best other member and the model it was judged against; with
    cross-validation's candidate table (role read)."""
    return _public(series.id, _backtest(session, series.id, version_id))


@router.get(
    "/models/{version_id}/backtest.csv",
    response_class=CSVResponse,
    responses={200: _CSV, 404: _json_error("no such series or version")},
)
def backtest_as_csv(
    _key: ReadKey, series: SeriesDep, session: SessionDep, version_id: VersionId
) -> CSVResponse:
    """The same errors as one long table: by, role, model, step, origin, mse, mae (`by` is
    step, origin or all); only the header for a version without a breakdown (role read)."""
    report = _backtest(session, series.id, version_id)
    return CSVResponse(backtest_csv(report), headers=_attachment(f"backtest-{version_id}.csv"))


@router.get(
    "/predictions.csv",
    response_class=CSVResponse,
    responses={
        200: _CSV,
        404: _json_error("no such series"),
        422: _json_error("a bad stamp, start not before end, or too many steps"),
    },
)
def predictions_as_csv(
    _key: ReadKey,
    series: SeriesDep,
    session: SessionDep,
    start: Annotated[Stamp | None, Query(description="first forecast stamp, inclusive")] = None,
    end: Annotated[Stamp | None, Query(description="last forecast stamp, exclusive")] = None,
) -> CSVResponse:
    """Stored forecasts with the readings that arrived, one row per step with start <= ts <
    end, oldest forecast first; at most 100,000 steps, else 422 (role read)."""
    if start is not None and end is not None and start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "start must be before end")
    try:
        body = predictions_csv(session=session, series_id=series.id, start=start, end=end)
    except ExportTooLarge as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return CSVResponse(body, headers=_attachment(f"predictions-{series.id}.csv"))


def _backtest(session: SessionDep, series_id: int, version_id: int) -> VersionBacktest:
    try:
        return version_backtest(session=session, series_id=series_id, version_id=version_id)
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error.args[0])) from None


def _public(series_id: int, report: VersionBacktest) -> ModelBacktestPublic:
    version, document = report.version, report.document or {}
    return ModelBacktestPublic(
        series_id=series_id,
        model_version_id=version.id,
        model_version=version.version,
        status=version.status,
        global_model_id=version.global_model_id,
        gate=version.status_reason,
        available=report.document is not None,
        message=report.message,
        steps=document.get("steps"),
        origins=[datetime.fromisoformat(origin) for origin in document.get("origins", [])],
        models=[BacktestModelErrors.model_validate(model) for model in document.get("models", [])],
        selection=version.selection,
    )


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
