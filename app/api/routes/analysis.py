"""Analysis: the preprocessing report (repairs, seasons, trend, tests, DSF verdict) on stored
data, stored so operators can see how a series' character changes between runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select

from app.api.deps import SeriesDep
from app.api.model_schemas import AnalysisPublic, AnalysisRequest
from app.api.schemas import ErrorBody
from app.auth import KeyCheckedFirst, ReadKey, WriteKey
from app.db.models import AnalysisReport
from app.request_scope import SessionDep
from app.services.analysis import analyse_series

router = APIRouter(
    route_class=KeyCheckedFirst, prefix="/v1/series/{series_id}/analysis", tags=["analysis"]
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def analyse(
    _key: WriteKey, series: SeriesDep, session: SessionDep, body: AnalysisRequest | None = None
) -> AnalysisPublic:
    """Run the preprocessing report on the stored readings and store it (role write)."""
    window = body or AnalysisRequest()
    try:
        report = analyse_series(session=session, series=series, start=window.start, end=window.end)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return AnalysisPublic.model_validate(report)


@router.get("", responses={404: {"model": ErrorBody}})
def list_(
    _key: ReadKey,
    series: SeriesDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[AnalysisPublic]:
    """Stored reports of the series, newest first (role read)."""
    query = (
        select(AnalysisReport)
        .where(AnalysisReport.series_id == series.id)
        .order_by(AnalysisReport.created_at.desc(), AnalysisReport.id.desc())
        .limit(limit)
    )
    return [AnalysisPublic.model_validate(report) for report in session.scalars(query)]
