"""Drift: a series' stored metrics over time, the current state of every series, and the run.

`POST /v1/drift/run` is what cron calls (`linecast drift` judges in its own process): it queues
one job per series and answers 202 at once, the workers judge them (`app.jobs.drift_jobs`) and
`GET /v1/drift/runs/{batch_id}` reports their outcome. Uploads also judge the performance of
forecasts whose actuals they bring (`app.api.routes.observations`). Queued jobs, and training
runs the retraining policy queues, wake this process's executor by their commit
(`app.jobs.dispatch`).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from app.api.deps import SeriesDep
from app.api.drift_schemas import (
    DriftMetricBrief,
    DriftMetricList,
    DriftMetricPublic,
    DriftRunAccepted,
    DriftRunProgress,
    DriftRunRequest,
    DriftSummary,
    SeriesDriftPublic,
    SkippedSeries,
)
from app.api.schemas import ErrorBody
from app.auth import AdminKey, KeyCheckedFirst, ReadKey
from app.db.models import DriftKind, utcnow
from app.jobs.drift_jobs import batch_progress, queue_drift
from app.request_scope import SessionDep
from app.services.drift import drift_rows, drift_summary
from app.stamps import Stamp
from app.text import Text

router = APIRouter(route_class=KeyCheckedFirst, tags=["drift"])


@router.get("/v1/series/{series_id}/drift", responses={404: {"model": ErrorBody}})
def read_drift(
    _key: ReadKey,
    series: SeriesDep,
    session: SessionDep,
    start: Annotated[Stamp | None, Query(description="windows ending at or after this")] = None,
    end: Annotated[Stamp | None, Query(description="windows ending before this")] = None,
    kind: DriftKind | None = None,
    metric: Annotated[Text | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
) -> DriftMetricList:
    """The series' drift metrics whose window ends in [start, end), oldest first (role read)."""
    if start is not None and end is not None and start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "start must be before end")
    rows = drift_rows(
        session=session,
        series_id=series.id,
        start=start,
        end=end,
        kind=kind,
        metric=metric,
        limit=limit,
    )
    return DriftMetricList(
        items=[DriftMetricPublic.model_validate(row) for row in rows], limit=limit
    )


@router.get("/v1/drift/summary")
def summary(_key: ReadKey, session: SessionDep) -> DriftSummary:
    """Per series, the worst current drift status and the metrics in alert (role read)."""
    items = []
    for entry in drift_summary(session=session):
        ends = [row.window_end for row in entry.latest]
        items.append(
            SeriesDriftPublic(
                series_id=entry.series.id,
                name=entry.series.name,
                status=entry.status,
                latest_window_end=max(ends, default=None),
                alerting=[DriftMetricBrief.model_validate(r) for r in entry.with_status("alert")],
                warning=[DriftMetricBrief.model_validate(r) for r in entry.with_status("warn")],
            )
        )
    counts = Counter(item.status or "none" for item in items)
    return DriftSummary(items=items, counts=dict(counts))


@router.post(
    "/v1/drift/run",
    status_code=status.HTTP_202_ACCEPTED,
    responses={404: {"model": ErrorBody}},
)
def run(
    body: DriftRunRequest, key: AdminKey, session: SessionDep, response: Response
) -> DriftRunAccepted:
    """Queue a drift judgement of every unarchived series with an active model, or of the ones
    given (admin; what cron calls), over the window ending now. Workers judge them; the
    answer's `progress` (also the Location header) reports the outcome. Repeating the request
    before new data arrives updates the same rows."""
    try:
        queued = queue_drift(
            session=session,
            series_ids=body.series_ids,
            window_end=utcnow(),
            requested_by=key.name,
        )
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error.args[0])) from None
    progress = f"/v1/drift/runs/{queued.batch_id}"
    response.headers["Location"] = progress
    return DriftRunAccepted(
        batch_id=queued.batch_id,
        queued=queued.queued,
        already_queued=queued.already_queued,
        skipped=[SkippedSeries(series_id=i, reason=r) for i, r in queued.skipped.items()],
        progress=progress,
    )


@router.get("/v1/drift/runs/{batch_id}", responses={404: {"model": ErrorBody}})
def read_run(
    batch_id: Annotated[str, Path(pattern="^[0-9a-f]{32}$")],
    _key: ReadKey,
    session: SessionDep,
) -> DriftRunProgress:
    """Where a drift request's jobs stand and what the finished ones found (role read)."""
    try:
        progress = batch_progress(session=session, batch_id=batch_id)
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error.args[0])) from None
    return DriftRunProgress(
        batch_id=batch_id,
        finished=progress.finished,
        jobs=progress.statuses,
        metrics=progress.metrics,
        alerting=progress.alerting,
        queued_runs=progress.queued_runs,
        skipped=[SkippedSeries(series_id=i, reason=r) for i, r in progress.skipped.items()],
        failed=[SkippedSeries(series_id=i, reason=r) for i, r in progress.failed.items()],
    )
