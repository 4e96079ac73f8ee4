"""`/v1/keys`: list, create, read and revoke API keys (role admin).

Revoking keeps the row (who had access, and until when, stays answerable); there is no
un-revoke: mint a new key instead. The last live admin key cannot be revoked here, since
nobody could then mint another through the API; `linecast keys revoke` can, as it needs only
the database.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from app.api.key_schemas import KeyCreate, KeyCreated, KeyList, KeyPublic
from app.api.schemas import ErrorBody
from app.auth import AdminKey, KeyCheckedFirst
from app.db.models import MAX_ID, ApiKey
from app.request_scope import SessionDep
from app.services.keys import (
    KeyNameTaken,
    LastAdminKey,
    UnknownKey,
    create_api_key,
    find_api_key,
    key_status,
    list_api_keys,
    revoke_api_key,
)

router = APIRouter(route_class=KeyCheckedFirst, prefix="/v1/keys", tags=["keys"])

KeyId = Annotated[int, Path(ge=1, le=MAX_ID)]
_NOT_FOUND = {404: {"model": ErrorBody, "description": "no key has this id"}}


@router.get("")
def list_(_key: AdminKey, session: SessionDep) -> KeyList:
    """Every key with its status, last use and expiry (role admin)."""
    rows = list_api_keys(session=session)
    return KeyList(items=[_public(row) for row in rows], total=len(rows))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorBody, "description": "the name is taken"}},
)
def create(body: KeyCreate, _key: AdminKey, session: SessionDep) -> KeyCreated:
    """Mint a key; the answer holds its secret, shown this once (role admin)."""
    try:
        row, secret = create_api_key(
            session=session, name=body.name, role=body.role, expires_at=body.expires_at
        )
    except KeyNameTaken as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return KeyCreated(**_public(row).model_dump(), key=secret)


@router.get("/{key_id}", responses=_NOT_FOUND)
def read(key_id: KeyId, _key: AdminKey, session: SessionDep) -> KeyPublic:
    """One key (role admin)."""
    try:
        return _public(find_api_key(session=session, name_or_id=key_id))
    except UnknownKey as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error.args[0])) from None


@router.delete(
    "/{key_id}",
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorBody, "description": "it is the last live admin key"},
    },
)
def revoke(key_id: KeyId, _key: AdminKey, session: SessionDep) -> KeyPublic:
    """Revoke a key at once; revoking a revoked key changes nothing (role admin)."""
    try:
        row = revoke_api_key(session=session, name_or_id=key_id, keep_an_admin=True)
    except UnknownKey as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error.args[0])) from None
    except LastAdminKey as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return _public(row)


def _public(row: ApiKey) -> KeyPublic:
    return KeyPublic(
        id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        status=key_status(row),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
