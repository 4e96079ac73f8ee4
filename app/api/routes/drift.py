"""Drift: a series' stored metrics over time, the current state of every series, and the run.

`POST /v1/drift/run` is what cron calls (or `linecast drift`); uploads also judge the
performance of forecasts whose actuals they bring (`app.api.routes.observations`). A training
run the retraining policy queues wakes this process's executor by its commit
(`app.jobs.dispatch`), as every queued run does.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from app.api.deps import SeriesDep
from app.api.drift_schemas import (
    DriftMetricBrief,
    DriftMetricList,
    DriftMetricPublic,
    DriftRunRequest,
    DriftRunResult,
    DriftSummary,
    SeriesDriftPublic,
    SkippedSeries,
)
from app.api.schemas import ErrorBody
from app.auth import AdminKey, KeyCheckedFirst, ReadKey
from app.db.models import DriftKind, utcnow
from app.request_scope import SessionDep, SettingsDep
from app.services.drift import drift_rows, drift_summary, run_drift_all
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


@router.post("/v1/drift/run", responses={404: {"model": ErrorBody}})
def run(
    request: Request,
    body: DriftRunRequest,
    _key: AdminKey,
    session: SessionDep,
    settings: SettingsDep,
) -> DriftRunResult:
    """Judge drift now for every unarchived series with an active model, or the ones given
    (admin; what cron calls). Repeating it before new data arrives updates the same rows."""
    try:
        counts = run_drift_all(
            session=session,
            series_ids=body.series_ids,
            now=utcnow(),
            settings=settings,
            cache=request.app.state.model_cache,
        )
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error.args[0])) from None
    return DriftRunResult(
        series=counts.series,
        metrics=counts.metrics,
        statuses=dict(counts.statuses),
        alerting={series_id: names for series_id, names in counts.alerting.items() if names},
        queued_runs=counts.queued_runs,
        skipped=[SkippedSeries(series_id=i, reason=r) for i, r in counts.skipped.items()],
    )
