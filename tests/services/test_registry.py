"""The registry: promotion, rollback, retirement, and refusing what must not serve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import ModelVersion, Prediction
from app.services.forecasting import ModelCache, forecast_series
from app.services.registry import (
    ArtifactIntegrityError,
    active_version,
    list_versions,
    promote,
    retire,
)
from model.line_model import FittedLineModel
from tests.services.conftest import add_series, add_version


def _statuses(session: Session, series_id: int) -> dict[int, str]:
    return {v.version: v.status for v in list_versions(session=session, series_id=series_id)}


def test_rolling_back_makes_the_old_version_serve_and_retires_the_newer(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifacts: tuple[bytes, bytes]
) -> None:
    old_artifact, new_artifact = tiny_artifacts
    cache = ModelCache()
    with sessions() as session:
        series = add_series(session, line)
        old = add_version(session, series.id, old_artifact, version=1, status="retired")
        new = add_version(session, series.id, new_artifact, version=2, status="active")
        before = forecast_series(session=session, cache=cache, series=series, request_id="r1")
        assert before.model_version_id == new.id

        promoted = promote(
            session=session, series_id=series.id, version_id=old.id, reason="rollback: v2 drifts"
        )

        assert promoted.id == old.id and promoted.status_reason == "rollback: v2 drifts"
        assert _statuses(session, series.id) == {1: "active", 2: "retired"}
        assert session.get(ModelVersion, new.id).retired_at is not None
        after = forecast_series(session=session, cache=cache, series=series, request_id="r2")
    assert (after.model_version_id, after.model_version) == (old.id, 1)
    expected = FittedLineModel.from_bytes(old_artifact, device="cpu").forecast(line).values
    np.testing.assert_array_equal(after.values, expected)
    assert not np.array_equal(after.values, before.values)
    with sessions() as session:
        served = session.scalars(
            select(Prediction.model_version_id).where(Prediction.request_id == "r2")
        )
        assert set(served) == {old.id}


def test_a_version_of_another_series_is_refused_and_nothing_changes(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        mine, other = add_series(session, line), add_series(session, line.iloc[:100])
        active = add_version(session, mine.id, tiny_artifact, version=1, status="active")
        foreign = add_version(session, other.id, tiny_artifact, version=1, status="retired")
        with pytest.raises(LookupError, match=f"series {mine.id} has no model version with id"):
            promote(session=session, series_id=mine.id, version_id=foreign.id, reason="x")
        assert active_version(session=session, series_id=mine.id).id == active.id
        assert _statuses(session, other.id) == {1: "retired"}


def test_a_version_whose_artifact_fails_its_check_is_never_promoted(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series = add_series(session, line)
        add_version(session, series.id, tiny_artifact, version=1, status="active")
        corrupt = add_version(
            session,
            series.id,
            tiny_artifact[:-1] + b"\x00",
            version=2,
            status="retired",
            artifact_sha256="0" * 64,
        )
        with pytest.raises(ArtifactIntegrityError, match="fails its sha256 check"):
            promote(session=session, series_id=series.id, version_id=corrupt.id, reason="x")
        assert _statuses(session, series.id) == {1: "active", 2: "retired"}


def test_retiring_the_active_version_leaves_the_series_without_a_model(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series = add_series(session, line)
        active = add_version(session, series.id, tiny_artifact, version=1, status="active")
        rejected = add_version(session, series.id, tiny_artifact, version=2, status="rejected")

        retired = retire(session=session, series_id=series.id, version_id=active.id)

        assert retired.status == "retired" and retired.retired_at is not None
        assert active_version(session=session, series_id=series.id) is None
        with pytest.raises(ValueError, match="was rejected and never served"):
            retire(session=session, series_id=series.id, version_id=rejected.id)
        with pytest.raises(LookupError, match=f"series {series.id} has no active model; train"):
            forecast_series(session=session, cache=ModelCache(), series=series, request_id="r")
