"""`/v1/series/{series_id}/observations`: upload readings (JSON or CSV), page through them,
and delete a stretch of them to repair a series (role admin).

Uploads are all or nothing (see `app.services.observations`): a 422 for bad rows lists them
under `rejected`, numbered by item index (0-based) for JSON and by file line (the header is
row 1) for CSV, and stores none of the batch. Rows may carry the values of the series'
channels (`covariates` in JSON, columns named after the channels in CSV), with or without a
reading; a channel the series does not declare is a bad row. A stored upload that brings the
actuals of stored forecasts has their performance drift judged right away
(`app.services.drift`). Every stamp, in a body, a file or a query, must lie in the service's
domain (`app.stamps`).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile, status
from sqlalchemy.orm import Session

from app.api.deps import ActiveSeriesDep, SeriesDep
from app.api.schemas import (
    ErrorBody,
    IngestResult,
    ObservationPage,
    ObservationPublic,
    ObservationsDeleted,
    ObservationsIn,
    RejectedRowsBody,
)
from app.auth import AdminKey, KeyCheckedFirst, ReadKey, WriteKey
from app.db.models import Series
from app.request_scope import SessionDep, SettingsDep
from app.services.channels import roles_of
from app.services.drift import drift_after_ingest
from app.services.observations import (
    Reading,
    delete_observations,
    ingest_observations,
    observations_page,
    parse_csv,
)
from app.settings import Settings
from app.stamps import AnyStamp, Stamp

router = APIRouter(
    route_class=KeyCheckedFirst, prefix="/v1/series/{series_id}/observations", tags=["observations"]
)

_UPLOAD_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "no such series"},
    409: {"model": ErrorBody, "description": "the series is archived"},
    413: {"model": ErrorBody, "description": "larger than LINECAST_MAX_REQUEST_BYTES"},
    422: {"model": RejectedRowsBody, "description": "bad rows or too many; nothing stored"},
    503: {"model": ErrorBody, "description": "kept colliding with concurrent uploads; retry"},
}


@router.post("", responses=_UPLOAD_ERRORS)
def upload_json(
    request: Request,
    batch: ObservationsIn,
    _key: WriteKey,
    series: ActiveSeriesDep,
    session: SessionDep,
    settings: SettingsDep,
) -> IngestResult:
    """Store a batch of readings; re-sending one is safe (key role write)."""
    readings = [
        Reading(row, item.ts, item.value, item.covariates) for row, item in enumerate(batch.items)
    ]
    return _store(request, series, readings, session, settings)


@router.post("/csv", responses=_UPLOAD_ERRORS)
def upload_csv(
    request: Request,
    file: Annotated[
        UploadFile,
        File(description="CSV: header `timestamp,value` and any channels' names, `,` or `;`"),
    ],
    _key: WriteKey,
    series: ActiveSeriesDep,
    session: SessionDep,
    settings: SettingsDep,
) -> IngestResult:
    """Store the readings of a CSV file, e.g. `2026-01-05T08:00:00Z,1180.5` (role write).

    Further columns hold channel values (`timestamp,value,setpoint`); an empty cell is no
    value, so a plan row leaves `value` empty."""
    readings = parse_csv(
        file.file.read(), max_rows=settings.max_ingest_rows, channels=list(roles_of(series))
    )
    return _store(request, series, readings, session, settings)


@router.get("", responses={404: {"model": ErrorBody}})
def read(
    _key: ReadKey,
    series: SeriesDep,
    session: SessionDep,
    start: Annotated[Stamp | None, Query(description="first stamp, inclusive")] = None,
    end: Annotated[Stamp | None, Query(description="last stamp, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> ObservationPage:
    """Readings with start <= ts < end in time order, a page at a time (key role read)."""
    if start is not None and end is not None and start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "start must be before end")
    rows, more = observations_page(
        session=session,
        series_id=series.id,
        start=start,
        end=end,
        after=None if cursor is None else _decode_cursor(cursor),
        limit=limit,
    )
    return ObservationPage(
        items=[ObservationPublic.model_validate(row) for row in rows],
        next_cursor=_encode_cursor(rows[-1].ts) if more else None,
    )


@router.delete(
    "",
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def remove(
    _key: AdminKey,
    series: SeriesDep,
    session: SessionDep,
    start: Annotated[AnyStamp | None, Query(description="first stamp, inclusive")] = None,
    end: Annotated[AnyStamp | None, Query(description="last stamp, exclusive")] = None,
) -> ObservationsDeleted:
    """Delete the readings with start <= ts < end, to repair a series (key role admin).

    One transaction; the answer counts them. The bounds may lie outside the stamps uploads
    take, so a stamp stored before that rule can be removed; at least one must be given.
    """
    if start is not None and end is not None and start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "start must be before end")
    try:
        deleted = delete_observations(session=session, series_id=series.id, start=start, end=end)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return ObservationsDeleted(deleted=deleted)


def _store(
    request: Request,
    series: Series,
    readings: list[Reading],
    session: Session,
    settings: Settings,
) -> IngestResult:
    """Store an upload, then judge the performance drift of forecasts whose actuals it
    brought; that never fails the upload, stored by now (`drift_after_ingest` logs its own
    errors)."""
    series_id = series.id
    counts = ingest_observations(
        session=session,
        series_id=series_id,
        readings=readings,
        max_rows=settings.max_ingest_rows,
        channels=list(roles_of(series)),
    )
    stamps = [reading.ts for reading in readings if reading.value is not None]
    if stamps:
        drift_after_ingest(
            session=session,
            series_id=series_id,
            first=min(stamps),
            last=max(stamps),
            settings=settings,
            cache=request.app.state.model_cache,
        )
    return IngestResult(
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        covariates=counts.covariates or None,
    )


# The cursor is opaque to clients (the last stamp of the page, encoded), so what it holds may
# change without breaking anyone who passes it back unchanged.
def _encode_cursor(ts: datetime) -> str:
    return base64.urlsafe_b64encode(ts.isoformat().encode()).decode()


def _decode_cursor(cursor: str) -> datetime:
    try:
        after = datetime.fromisoformat(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        after = None
    if after is None or after.tzinfo is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "cursor is not valid: pass the previous page's next_cursor unchanged",
        )
    return after
