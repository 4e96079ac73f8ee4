"""API keys: minting, checking and revoking them.

A key reads `lc_<prefix>_<secret>`: 12 hex characters of prefix, which are stored in clear to
find the row, and 32 random bytes of secret. Only the SHA-256 of the whole key is stored: a
key this random cannot be guessed from its hash, so a slow password hash would only cost time
on every request. The plaintext exists once, in the return value of `create_api_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

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


class UnknownKeyName(LookupError):
    """No key has this name."""


def create_api_key(*, session: Session, name: str, role: Role) -> tuple[ApiKey, str]:
    """Store a new key of `role` under `name`; return its row and the plaintext key.

    The plaintext is not stored and cannot be recovered: the caller shows it once.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name.strip() or len(name) > 200:
        raise ValueError("a key's name must be 1 to 200 characters, not blank")
    prefix = secrets.token_hex(6)
    key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=_sha256(key), role=role)
    session.add(row)
    try:
        session.commit()
    except IntegrityError as error:
        # The unique name is the only constraint a fresh random key can meet.
        session.rollback()
        raise KeyNameTaken(f"an API key named {name!r} already exists") from error
    return row, key


def authenticate(*, session: Session, key: str) -> ApiKey | None:
    """The live key row matching `key`, or None for a malformed, unknown or revoked key.

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
    if found is None or found.revoked_at is not None:
        return None
    now = utcnow()
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
        found.last_used_at = now
        session.commit()
    return found


def revoke_api_key(*, session: Session, name: str) -> ApiKey:
    """Revoke the key called `name`; revoking a revoked key changes nothing."""
    row = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None:
        raise UnknownKeyName(f"no API key named {name!r}")
    if row.revoked_at is None:
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
