"""The model registry: which versions a series has, which one serves, and changing that.

A series has at most one `active` version (a partial unique index holds it). Promoting a
version retires the active one in the same transaction, so there is never a moment with two
or, by accident, none; rolling back is promoting an older version again. Every change locks
the series row first, which queues it behind a training run storing its outcome for the same
series (that run takes the same lock), so the two cannot interleave.

An artifact is loaded only after its bytes match the stored sha256: a corrupted or swapped blob
fails loudly instead of serving whatever it now holds.

A version backed by a global model (`ModelVersion.global_model_id`) holds no artifact of its
own: it records the global artifact's sha256, and loading it loads the global model (checked
against both hashes) and serves the series through it (`model.global_view`), so everything
here treats it like any other version.
"""

from __future__ import annotations

import hashlib
from numbers import Real

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, defer, object_session

from app.db.models import GlobalModelVersion, ModelVersion, Series, utcnow
from app.services.series_data import context_rows, load_frame
from model.global_model import FittedGlobalModel
from model.global_view import GlobalSeriesModel
from model.line_model import FittedLineModel

# What serves a series: its own line model, or its view of a global model.
ServedModel = FittedLineModel | GlobalSeriesModel


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
        verify_version(session, version)
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


def load_model(
    version: ModelVersion, device: str = "cpu", session: Session | None = None
) -> ServedModel:
    """The version's model, after its artifact passes the sha256 check. A version backed by a
    global model reads that model through `session` (default: the session the version was
    read in) and serves the series through it."""
    if version.global_model_id is None:
        verify_artifact(version)
        return FittedLineModel.from_bytes(version.artifact, device=device)
    session = session or session_of(version)
    stored = backing_model(session, version)
    return series_view(session, load_global_model(stored, device), version.series_id)


def verify_version(session: Session, version: ModelVersion) -> None:
    """`verify_artifact` for a version of either kind: a global-backed version's global
    artifact must match its own hash and the one the version was gated with."""
    if version.global_model_id is None:
        verify_artifact(version)
    else:
        verify_global_artifact(backing_model(session, version))


def backing_model(session: Session, version: ModelVersion) -> GlobalModelVersion:
    """The global model behind a global-backed version; ArtifactIntegrityError when its
    artifact is not the one the version recorded."""
    stored = session.get(GlobalModelVersion, version.global_model_id)
    assert stored is not None  # the foreign key keeps it
    if stored.artifact_sha256 != version.artifact_sha256:
        raise ArtifactIntegrityError(
            f"model version {version.version} (id {version.id}) of series {version.series_id} "
            f"was stored for global artifact {version.artifact_sha256}, but global model "
            f"{stored.id} now records {stored.artifact_sha256}; refusing to load it"
        )
    return stored


def verify_global_artifact(stored: GlobalModelVersion) -> None:
    digest = hashlib.sha256(stored.artifact).hexdigest()
    if digest != stored.artifact_sha256:
        raise ArtifactIntegrityError(
            f"artifact of global model {stored.name!r} v{stored.version} (id {stored.id}) fails "
            f"its sha256 check (stored {stored.artifact_sha256}, computed {digest}); refusing "
            "to load it"
        )


def load_global_model(stored: GlobalModelVersion, device: str = "cpu") -> FittedGlobalModel:
    """The global model, after its artifact passes the sha256 check."""
    verify_global_artifact(stored)
    return FittedGlobalModel.from_bytes(stored.artifact, device=device)


def global_key(series_id: int) -> str:
    """The key a series has in the global models the service trains: its id, which never
    changes (a name could be reused by another series after an archive)."""
    return str(series_id)


def series_view(session: Session, model: FittedGlobalModel, series_id: int) -> GlobalSeriesModel:
    """Series `series_id` as `model` serves it. A cold start (a series the model never
    trained on) reads the series' own static attributes when it has every one the model was
    trained with, as numbers, else the training mean of each; and its pipeline, when asked
    for (drift tests readings through it), is fitted on the readings a forecast would read."""
    key = global_key(series_id)
    if key in model.series:
        return GlobalSeriesModel(model, key)

    def readings() -> pd.DataFrame:
        return load_frame(session=session, series_id=series_id, last=context_rows(model.context))

    names = model.statics.names
    series = session.get(Series, series_id)
    assert series is not None  # versions cascade with their series
    values = [series.attributes.get(name) for name in names]
    if not names or not all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
        return GlobalSeriesModel(model, key, readings=readings)
    attributes = {name: float(v) for name, v in zip(names, values, strict=True)}
    return GlobalSeriesModel(model, key, attributes, readings)


def session_of(version: ModelVersion) -> Session:
    """The session `version` was read in; a global-backed version needs one to reach its
    global model."""
    session = object_session(version)
    if session is None:
        raise RuntimeError(
            f"model version {version.id} is detached from its session: pass one to load it"
        )
    return session


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
