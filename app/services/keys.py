"""API keys: minting, listing, checking, expiring and revoking them.

A key reads `lc_<prefix>_<secret>`: 12 hex characters of prefix, which are stored in clear to
find the row, and 32 random bytes of secret. Only the SHA-256 of the whole key is stored: a
key this random cannot be guessed from its hash, so a slow password hash would only cost time
on every request. The plaintext exists once, in the return value of `create_api_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import ROLES, ApiKey, Role, utcnow

KEY_SCHEME = "lc"
# Writing last_used_at on every request would turn each read into a write; a minute is
# precise enough to tell a key in use from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class KeyNameTaken(ValueError):
    """Another key already has this name (names are how people find and revoke keys)."""


class UnknownKey(LookupError):
    """No key has this name or id."""


class LastAdminKey(ValueError):
    """Revoking this key would leave no live admin key, and so nobody to mint another."""


KeyStatus = Literal["active", "expired", "revoked"]


def key_status(row: ApiKey, now: datetime | None = None) -> KeyStatus:
    """Whether `row` admits requests now; revoked wins over expired (it is final)."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def create_api_key(
    *, session: Session, name: str, role: Role, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Store a new key of `role` under `name`, live until `expires_at` (UTC-aware; None: until
    revoked); return its row and the plaintext key.

    The plaintext is not stored and cannot be recovered: the caller shows it once.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name.strip() or len(name) > 200 or not name.isprintable():
        raise ValueError("a key's name must be 1 to 200 printable characters, not blank")
    if expires_at is not None and expires_at <= utcnow():
        raise ValueError(f"expires_at {expires_at.isoformat()} is not in the future")
    prefix = secrets.token_hex(6)
    key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=_sha256(key), role=role, expires_at=expires_at)
    session.add(row)
    try:
        session.commit()
    except IntegrityError as error:
        # The unique name is the only constraint a fresh random key can meet.
        session.rollback()
        raise KeyNameTaken(f"an API key named {name!r} already exists") from error
    return row, key


def list_api_keys(*, session: Session) -> list[ApiKey]:
    """Every key, revoked and expired ones included (they tell who had access), by id."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def authenticate(*, session: Session, key: str) -> ApiKey | None:
    """The live key row matching `key`, or None for a malformed, unknown, revoked or expired
    key.

    Marks the key used (at most once per `LAST_USED_RESOLUTION`), committing that alone.
    """
    prefix = _prefix_of(key)
    if prefix is None:
        return None
    digest = _sha256(key)
    found = None
    for row in session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)):
        # Constant time, so response times do not reveal how much of a hash matched.
        if hmac.compare_digest(row.key_hash, digest):
            found = row
    now = utcnow()
    if found is None or key_status(found, now) != "active":
        return None
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
        found.last_used_at = now
        session.commit()
    return found


def find_api_key(*, session: Session, name_or_id: str | int) -> ApiKey:
    """The key with this id (an int) or name (a str); `UnknownKey` if there is none."""
    if isinstance(name_or_id, int):
        row = session.get(ApiKey, name_or_id)
    else:
        row = session.scalar(select(ApiKey).where(ApiKey.name == name_or_id))
    if row is None:
        raise UnknownKey(
            f"no API key {'with id' if isinstance(name_or_id, int) else 'named'} {name_or_id!r}"
        )
    return row


def revoke_api_key(
    *, session: Session, name_or_id: str | int, keep_an_admin: bool = False
) -> ApiKey:
    """Revoke the key with this id or name; revoking a revoked key changes nothing.

    With `keep_an_admin` (the API's choice), refuse with `LastAdminKey` to revoke the last
    live admin key: through the API nobody could mint another. The CLI, which needs only the
    database, may: it can always mint a new one.
    """
    row = find_api_key(session=session, name_or_id=name_or_id)
    if row.revoked_at is not None:
        return row
    if keep_an_admin and row.role == "admin" and key_status(row) == "active":
        # Locked, so two concurrent revocations of the last two admin keys cannot both pass.
        admins = session.scalars(
            select(ApiKey)
            .where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None))
            .with_for_update()
        ).all()
        if sum(key_status(admin) == "active" for admin in admins) <= 1:
            session.rollback()
            raise LastAdminKey(
                f"key {row.name!r} is the last live admin key; create another admin key "
                "first, or revoke it with `linecast keys revoke`"
            )
    row.revoked_at = utcnow()
    session.commit()
    return row


def _prefix_of(key: str) -> str | None:
    scheme, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != KEY_SCHEME or len(prefix) != 12 or not secret:
        return None
    return prefix


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
