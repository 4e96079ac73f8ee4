"""Training: ask for a run for one series or a retrain of many (the cron endpoint), watch runs.

Runs execute outside the request: in this process when `in_process_jobs` is set (the embedded
default), else in a `linecast worker` that claims them from the database. Either way the answer
is 202 with the run; a series with a queued or running run gets that run back, not a second one
(the database's partial unique index decides under concurrency).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy import select

from app.api.deps import SeriesDep
from app.api.drift_schemas import SkippedSeries
from app.api.model_schemas import (
    QueuedRunPublic,
    RetrainAccepted,
    RetrainRequest,
    TrainAccepted,
    TrainingRunPublic,
    TrainRequest,
)
from app.api.schemas import ErrorBody
from app.auth import AdminKey, KeyCheckedFirst, ReadKey, WriteKey
from app.db.models import MAX_ID, TrainingRun
from app.request_scope import SessionDep, SettingsDep
from app.services.training import TrainingOptions, request_retraining, request_training

router = APIRouter(route_class=KeyCheckedFirst, tags=["training"])


@router.post(
    "/v1/series/{series_id}/train",
    status_code=status.HTTP_202_ACCEPTED,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def train(
    body: TrainRequest,
    key: WriteKey,
    series: SeriesDep,
    session: SessionDep,
    settings: SettingsDep,
) -> TrainAccepted:
    """Queue a training run for the series (key role write)."""
    options = TrainingOptions(
        **{
            **body.model_dump(),
            "horizon": body.horizon or settings.default_horizon,
            "context": body.context or settings.default_context,
        }
    )
    if series.archived_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"series {series.id} is archived")
    try:
        run, created = request_training(
            session=session,
            series_id=series.id,
            trigger="api",
            options=options,
            requested_by=key.name,
        )
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return TrainAccepted(run=TrainingRunPublic.model_validate(run), created=created)


@router.post(
    "/v1/retrain",
    status_code=status.HTTP_202_ACCEPTED,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def retrain(body: RetrainRequest, key: AdminKey, session: SessionDep) -> RetrainAccepted:
    """Retrain every series that can be trained, or the ones given (admin; what cron calls).

    Each series is retrained with its active version's options; `warm_start` starts from the
    active version's weights. Given series are all checked before any run is queued; without
    them, series that cannot be trained are listed as skipped, with why.
    """
    try:
        retraining = request_retraining(
            session=session,
            series_ids=body.series_ids,
            warm_start=body.warm_start,
            requested_by=key.name,
            trigger="retrain",
        )
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error.args[0])) from None
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    created = sum(run.created for run in retraining.runs)
    return RetrainAccepted(
        queued=created,
        already_open=len(retraining.runs) - created,
        runs=[QueuedRunPublic.model_validate(run) for run in retraining.runs],
        skipped=[SkippedSeries(series_id=i, reason=r) for i, r in retraining.skipped.items()],
    )


@router.get("/v1/training-runs/{run_id}", responses={404: {"model": ErrorBody}})
def read_run(
    _key: ReadKey, session: SessionDep, run_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> TrainingRunPublic:
    """A run with its progress, message, metrics and outcome (key role read)."""
    run = session.get(TrainingRun, run_id, populate_existing=True)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"training run {run_id} not found")
    return TrainingRunPublic.model_validate(run)


@router.get("/v1/series/{series_id}/training-runs", responses={404: {"model": ErrorBody}})
def list_runs(
    _key: ReadKey,
    series: SeriesDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[TrainingRunPublic]:
    """The series' runs, newest first (key role read)."""
    query = (
        select(TrainingRun)
        .where(TrainingRun.series_id == series.id)
        .order_by(TrainingRun.created_at.desc(), TrainingRun.id.desc())
        .limit(limit)
    )
    return [TrainingRunPublic.model_validate(run) for run in session.scalars(query)]
