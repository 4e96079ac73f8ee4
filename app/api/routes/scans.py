"""`POST /v1/observations`: a plant's scan, many tags at each stamp, stored all or nothing.

Plants send a scan of hundreds of tags at once; one upload per series cost a request and a
transaction each, and a failure half-way left some tags stored and others not. Here every
series is named by its name (a tag), every reading is checked before any is stored, and all
are stored in one transaction (`app.services.observations.ingest_many`). Then, as a single
upload does, the performance drift of forecasts whose actuals arrived is judged, for the
series that have such forecasts only (one query finds them).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.batch_schemas import ScanResult, ScansIn
from app.api.schemas import ErrorBody, RejectedRowsBody
from app.auth import KeyCheckedFirst, WriteKey
from app.db.models import Prediction, Series
from app.request_scope import SessionDep, SettingsDep
from app.services.drift import drift_after_ingest
from app.services.observations import Reading, RejectedRows, RowProblem, ingest_many
from app.settings import Settings

router = APIRouter(route_class=KeyCheckedFirst, tags=["observations"])


@router.post(
    "/v1/observations",
    responses={
        409: {"model": ErrorBody, "description": "a series named is archived"},
        413: {"model": ErrorBody, "description": "larger than LINECAST_MAX_REQUEST_BYTES"},
        422: {"model": RejectedRowsBody, "description": "unknown names, bad rows; nothing stored"},
        503: {"model": ErrorBody, "description": "kept colliding with concurrent uploads; retry"},
    },
)
def upload_scans(
    request: Request, body: ScansIn, _key: WriteKey, session: SessionDep, settings: SettingsDep
) -> ScanResult:
    """Store scans of many series, each named by its series name; all or nothing (role write).
    Re-sending a scan is safe. Rows are numbered by scan, from 1."""
    first_row: dict[str, int] = {}
    for row, scan in enumerate(body.scans, start=1):
        for name in scan.values:
            first_row.setdefault(name, row)
    query = select(Series).where(Series.name.in_(list(first_row)))
    found = {series.name: series for series in session.scalars(query)}
    unknown = [name for name in first_row if name not in found]
    if unknown:
        raise RejectedRows(
            [RowProblem(first_row[name], f"no series is named {name!r}") for name in unknown]
        )
    names = first_row.keys()
    archived = sorted(name for name in names if found[name].archived_at is not None)
    if archived:
        raise HTTPException(status.HTTP_409_CONFLICT, f"series {found[archived[0]].id} is archived")
    uploads: dict[int, list[Reading]] = {}
    for row, scan in enumerate(body.scans, start=1):
        for name, value in scan.values.items():
            uploads.setdefault(found[name].id, []).append(Reading(row, scan.ts, value))
    counts = ingest_many(
        session=session,
        uploads=uploads,
        max_rows=settings.max_ingest_rows,
        channels={},  # a scan carries the series' own readings, no channel values
    )
    _judge_arrived(request, session, settings, uploads)
    return ScanResult(
        series=len(counts),
        inserted=sum(c.inserted for c in counts.values()),
        updated=sum(c.updated for c in counts.values()),
        unchanged=sum(c.unchanged for c in counts.values()),
    )


def _judge_arrived(
    request: Request, session: Session, settings: Settings, uploads: dict[int, list[Reading]]
) -> None:
    """Performance drift for the series whose forecasts got actuals from this upload."""
    stamps = [reading.ts for readings in uploads.values() for reading in readings]
    first, last = min(stamps), max(stamps)
    forecast = session.scalars(
        select(Prediction.series_id)
        .where(
            Prediction.series_id.in_(list(uploads)),
            Prediction.ts >= first,
            Prediction.ts <= last,
        )
        .distinct()
    ).all()
    for series_id in forecast:
        drift_after_ingest(
            session=session,
            series_id=series_id,
            first=first,
            last=last,
            settings=settings,
            cache=request.app.state.model_cache,
        )
