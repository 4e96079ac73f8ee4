"""Global models: ask for one trained on a scope of series, watch its run, read what was stored.

Training runs outside the request, as a series' does: in this process when `in_process_jobs`
is set, else in a `linecast worker`. The answer is 202 with the run; a name with a queued or
running run gets that run back. Each series of the scope then has a version backed by the
model (`GET /v1/series/{id}/models`), promoted or rejected by its own gate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy.orm import defer

from app.api.global_schemas import (
    GlobalMemberPublic,
    GlobalModelDetail,
    GlobalModelList,
    GlobalModelPublic,
    GlobalRunPublic,
    GlobalTrainAccepted,
    GlobalTrainRequest,
)
from app.api.schemas import ErrorBody
from app.auth import AdminKey, KeyCheckedFirst, ReadKey
from app.db.models import MAX_ID, GlobalModelVersion, GlobalRun
from app.request_scope import SessionDep, SettingsDep
from app.services.global_models import (
    GlobalOptions,
    global_members,
    list_global_models,
    request_global_training,
)
from app.text import Text

router = APIRouter(route_class=KeyCheckedFirst, tags=["global models"])

Id = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post(
    "/v1/global-models",
    status_code=status.HTTP_202_ACCEPTED,
    responses={422: {"model": ErrorBody}},
)
def train(
    body: GlobalTrainRequest, key: AdminKey, session: SessionDep, settings: SettingsDep
) -> GlobalTrainAccepted:
    """Queue the training of a global model on every unarchived series of a plant, a line or
    a line of a plant (admin). 422 when the scope holds no series with enough readings."""
    options = GlobalOptions(
        **{
            **body.model_dump(),
            "horizon": body.horizon or settings.default_horizon,
            "context": body.context or settings.default_context,
        }
    )
    try:
        run, created = request_global_training(
            session=session, options=options, trigger="api", requested_by=key.name
        )
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return GlobalTrainAccepted(run=GlobalRunPublic.model_validate(run), created=created)


@router.get("/v1/global-models")
def list_(
    _key: ReadKey,
    session: SessionDep,
    name: Annotated[Text | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> GlobalModelList:
    """Stored global models, newest first, with status, scope and metrics (role read)."""
    stored = list_global_models(session=session, name=name, limit=limit)
    return GlobalModelList(items=[GlobalModelPublic.model_validate(g) for g in stored])


@router.get("/v1/global-models/{global_model_id}", responses={404: {"model": ErrorBody}})
def read(_key: ReadKey, session: SessionDep, global_model_id: Id) -> GlobalModelDetail:
    """A global model with the version of each series it backs (role read)."""
    stored = session.get(
        GlobalModelVersion, global_model_id, options=[defer(GlobalModelVersion.artifact)]
    )
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"global model {global_model_id} not found")
    members = [
        GlobalMemberPublic(
            series_id=version.series_id,
            model_version_id=version.id,
            version=version.version,
            status=version.status,
            status_reason=version.status_reason,
            backtest_error=version.backtest_error,
            cold_start=bool(version.metrics.get("cold_start")),
        )
        for version in global_members(session=session, global_model_id=stored.id)
    ]
    public = GlobalModelPublic.model_validate(stored)
    return GlobalModelDetail(**public.model_dump(), members=members)


@router.get("/v1/global-runs/{run_id}", responses={404: {"model": ErrorBody}})
def read_run(_key: ReadKey, session: SessionDep, run_id: Id) -> GlobalRunPublic:
    """A global run with its progress, message, metrics and outcome (role read)."""
    run = session.get(GlobalRun, run_id, populate_existing=True)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"global run {run_id} not found")
    return GlobalRunPublic.model_validate(run)
