"""The model registry: which versions a series has, which one serves, and changing that.

A series has at most one `active` version (a partial unique index holds it). Promoting a
version retires the active one in the same transaction, so there is never a moment with two
or, by accident, none; rolling back is promoting an older version again. Every change locks
the series row first, which queues it behind a training run storing its outcome for the same
series (that run takes the same lock), so the two cannot interleave.

An artifact is loaded only after its bytes match the stored sha256: a corrupted or swapped blob
fails loudly instead of serving whatever it now holds.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from app.db.models import ModelVersion, Series, utcnow
from model.line_model import FittedLineModel


class ArtifactIntegrityError(RuntimeError):
    """A stored artifact's bytes do not match its recorded sha256; it is never loaded."""


def list_versions(*, session: Session, series_id: int) -> list[ModelVersion]:
    """Every version of the series, newest first."""
    query = (
        select(ModelVersion)
        .where(ModelVersion.series_id == series_id)
        .order_by(ModelVersion.version.desc())
    )
    return list(session.scalars(query))


def active_version(
    *, session: Session, series_id: int, with_artifact: bool = True
) -> ModelVersion | None:
    """The series' active version. Without `with_artifact` the artifact (hundreds of kB) is
    loaded on first access only, while the session is open: a forecast served from the model
    cache never touches it, and fetching it cost more than the forecast itself."""
    query = select(ModelVersion).where(
        ModelVersion.series_id == series_id, ModelVersion.status == "active"
    )
    if not with_artifact:
        query = query.options(defer(ModelVersion.artifact))
    # Fresh from the database even if the session holds the row from an earlier read: the
    # callers decide on its status.
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def promote(*, session: Session, series_id: int, version_id: int, reason: str) -> ModelVersion:
    """Make the version active and retire the active one; promoting the active one is a no-op.

    Raises LookupError for a version the series does not have, ArtifactIntegrityError for a
    version whose artifact fails its check (it could not serve).
    """
    try:
        _lock_series(session, series_id)
        version = _version_of(session, series_id, version_id)
        if version.status == "active":
            session.rollback()
            return version
        verify_artifact(version)
        now = utcnow()
        current = active_version(session=session, series_id=series_id)
        if current is not None:
            current.status, current.retired_at = "retired", now
            # The retirement must reach the database before the promotion, or the unique
            # index on active versions sees two for a moment and refuses.
            session.flush()
        version.status, version.promoted_at, version.retired_at = "active", now, None
        version.status_reason = reason
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return version


def retire(*, session: Session, series_id: int, version_id: int) -> ModelVersion:
    """Take a version out of service (the series then has no active model until one is
    promoted). A retired version stays as it is; a rejected one is refused with ValueError,
    since it never served and its rejection is the record worth keeping."""
    try:
        _lock_series(session, series_id)
        version = _version_of(session, series_id, version_id)
        if version.status == "rejected":
            raise ValueError(
                f"version {version.version} of series {series_id} was rejected and never "
                "served; there is nothing to retire"
            )
        if version.status != "retired":
            version.status, version.retired_at = "retired", utcnow()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return version


def verify_artifact(version: ModelVersion) -> None:
    digest = hashlib.sha256(version.artifact).hexdigest()
    if digest != version.artifact_sha256:
        raise ArtifactIntegrityError(
            f"artifact of model version {version.version} (id {version.id}) of series "
            f"{version.series_id} fails its sha256 check (stored {version.artifact_sha256}, "
            f"computed {digest}); refusing to load it"
        )


def load_model(version: ModelVersion, device: str = "cpu") -> FittedLineModel:
    """The version's model, after its artifact passes the sha256 check."""
    verify_artifact(version)
    return FittedLineModel.from_bytes(version.artifact, device=device)


def _lock_series(session: Session, series_id: int) -> Series:
    series = session.get(Series, series_id, with_for_update=True)
    if series is None:
        raise LookupError(f"series {series_id} not found")
    return series


def _version_of(session: Session, series_id: int, version_id: int) -> ModelVersion:
    version = session.get(ModelVersion, version_id, populate_existing=True)
    if version is None or version.series_id != series_id:
        raise LookupError(f"series {series_id} has no model version with id {version_id}")
    return version
