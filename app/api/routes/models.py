"""Model versions of a series: list them with their metrics, promote one (rollback), retire one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from app.api.deps import SeriesDep
from app.api.model_schemas import ModelVersionList, ModelVersionPublic, PromoteRequest
from app.api.schemas import ErrorBody
from app.auth import AdminKey, KeyCheckedFirst, ReadKey
from app.db.models import MAX_ID
from app.request_scope import SessionDep
from app.services.registry import ArtifactIntegrityError, list_versions, promote, retire

router = APIRouter(
    route_class=KeyCheckedFirst, prefix="/v1/series/{series_id}/models", tags=["models"]
)

VersionId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("", responses={404: {"model": ErrorBody}})
def list_(_key: ReadKey, series: SeriesDep, session: SessionDep) -> ModelVersionList:
    """Every version of the series, newest first, with status, metrics and why (role read)."""
    versions = list_versions(session=session, series_id=series.id)
    return ModelVersionList(items=[ModelVersionPublic.model_validate(v) for v in versions])


@router.post(
    "/{version_id}/promote",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
def promote_(
    _key: AdminKey,
    series: SeriesDep,
    session: SessionDep,
    version_id: VersionId,
    body: PromoteRequest | None = None,
) -> ModelVersionPublic:
    """Make this version the active one; the active one is retired. Promoting an older
    version is how a rollback is done (admin)."""
    reason = (body or PromoteRequest()).reason
    try:
        version = promote(
            session=session, series_id=series.id, version_id=version_id, reason=reason
        )
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error.args[0])) from None
    except (ValueError, ArtifactIntegrityError) as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return ModelVersionPublic.model_validate(version)


@router.post(
    "/{version_id}/retire",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
def retire_(
    _key: AdminKey, series: SeriesDep, session: SessionDep, version_id: VersionId
) -> ModelVersionPublic:
    """Take a version out of service; retiring the active one leaves the series without a
    model until another is promoted or trained (admin)."""
    try:
        version = retire(session=session, series_id=series.id, version_id=version_id)
    except LookupError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error.args[0])) from None
    except ValueError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return ModelVersionPublic.model_validate(version)
