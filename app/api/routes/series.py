"""`/v1/series`: create, list, read and archive series."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from app.api.deps import SeriesDep
from app.api.schemas import ErrorBody, SeriesCreate, SeriesList, SeriesPublic
from app.auth import AdminKey, KeyCheckedFirst, ReadKey, WriteKey
from app.request_scope import SessionDep
from app.services.series import SeriesNameTaken, archive_series, create_series, list_series

router = APIRouter(route_class=KeyCheckedFirst, prefix="/v1/series", tags=["series"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorBody, "description": "the name is taken"}},
)
def create(series_in: SeriesCreate, _key: WriteKey, session: SessionDep) -> SeriesPublic:
    """Create a series (key role write)."""
    try:
        series = create_series(session=session, **series_in.model_dump())
    except SeriesNameTaken as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return SeriesPublic.model_validate(series)


@router.get("")
def list_(
    _key: ReadKey,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    include_archived: bool = False,
) -> SeriesList:
    """Series by id, archived ones only with `include_archived` (key role read)."""
    items, total = list_series(
        session=session, limit=limit, offset=offset, include_archived=include_archived
    )
    return SeriesList(
        items=[SeriesPublic.model_validate(series) for series in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{series_id}", responses={404: {"model": ErrorBody}})
def read(_key: ReadKey, series: SeriesDep) -> SeriesPublic:
    """One series, archived or not (key role read)."""
    return SeriesPublic.model_validate(series)


@router.post("/{series_id}/archive", responses={404: {"model": ErrorBody}})
def archive(_key: AdminKey, series: SeriesDep, session: SessionDep) -> SeriesPublic:
    """Archive a series: readable, but closed to writes; archiving twice is harmless (admin)."""
    return SeriesPublic.model_validate(archive_series(session=session, series=series))
