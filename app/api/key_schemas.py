"""API keys over HTTP: what an admin sends to mint one and what the service shows of keys.

The secret is shown once, in `KeyCreated`; `KeyPublic` shows only the prefix, which is not
secret but tells keys apart in logs and lists.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.db.models import Role
from app.services.keys import KeyStatus
from app.stamps import Stamp
from app.text import Text


class KeyCreate(BaseModel):
    """A new key: a unique name (whose it is), a role, and optionally when it stops working."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "plant-a-gateway", "role": "write", "expires_at": "2027-06-30T00:00:00Z"}
            ]
        },
    )

    name: Text = Field(min_length=1, max_length=200)
    role: Role
    expires_at: Stamp | None = Field(
        default=None, description="when the key stops working (UTC offset required); none: never"
    )


class KeyPublic(BaseModel):
    """A key as admins see it: never its secret or hash."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: Role
    prefix: str = Field(description="the key's `lc_<prefix>_` part, to tell keys apart")
    status: KeyStatus
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="to the minute; none: never used")
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    """A new key with its secret, which is shown this once and cannot be recovered."""

    key: str


class KeyList(BaseModel):
    """Every key, revoked and expired ones included, by id."""

    items: list[KeyPublic]
    total: int
