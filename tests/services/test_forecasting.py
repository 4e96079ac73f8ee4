"""Serving forecasts: stored predictions, horizons, inline context, the model cache."""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Prediction
from app.services.forecasting import ModelCache, forecast_series
from app.services.registry import ArtifactIntegrityError
from tests.services.conftest import add_series, add_version


def _predictions(session: Session, request_id: str) -> list[Prediction]:
    query = select(Prediction).where(Prediction.request_id == request_id).order_by(Prediction.step)
    return list(session.scalars(query))


def test_each_step_of_a_forecast_is_stored_as_one_prediction(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    with sessions() as session:
        series = add_series(session, line)
        version = add_version(session, series.id, tiny_artifact, version=3, status="active")
        result = forecast_series(
            session=session, cache=ModelCache(), series=series, request_id="req-1"
        )
    assert (result.model_version_id, result.model_version) == (version.id, 3)
    assert result.origin == line.index[-1] and result.filled_context == 0
    assert list(result.stamps) == list(pd.date_range(line.index[-1], periods=7, freq="h")[1:])
    with sessions() as session:
        rows = _predictions(session, "req-1")
    assert [row.step for row in rows] == [1, 2, 3, 4, 5, 6]
    assert result.quantiles == (0.1, 0.5, 0.9)
    for row, stamp, values in zip(rows, result.stamps, result.values, strict=True):
        assert (row.series_id, row.model_version_id) == (series.id, version.id)
        assert row.ts == stamp and row.origin == result.origin
        assert (row.lower, row.median, row.upper) == tuple(values)
        assert row.quantiles == {"q0.1": values[0], "q0.5": values[1], "q0.9": values[2]}


def test_a_shorter_horizon_truncates_and_a_longer_one_is_refused(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    cache = ModelCache()
    with sessions() as session:
        series = add_series(session, line)
        add_version(session, series.id, tiny_artifact, version=1, status="active")
        full = forecast_series(session=session, cache=cache, series=series, request_id="full")
        short = forecast_series(
            session=session, cache=cache, series=series, horizon=2, request_id="short"
        )
        np.testing.assert_array_equal(short.values, full.values[:2])
        assert short.stamps.equals(full.stamps[:2])
        with pytest.raises(ValueError, match=r"horizon 7 is outside .* v1 forecasts: 1 to 6 steps"):
            forecast_series(session=session, cache=cache, series=series, horizon=7, request_id="x")
        assert len(_predictions(session, "short")) == 2
        assert _predictions(session, "x") == []


def test_an_inline_context_is_forecast_instead_of_the_stored_one(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    cache = ModelCache()
    earlier = line.iloc[:-48]
    with sessions() as session:
        series = add_series(session, line)
        add_version(session, series.id, tiny_artifact, version=1, status="active")
        result = forecast_series(
            session=session, cache=cache, series=series, context_frame=earlier, request_id="r"
        )
        assert result.origin == earlier.index[-1]
        # A request id is the caller's label, not a key: the same one again is a new forecast.
        again = forecast_series(session=session, cache=cache, series=series, request_id="r")
        assert again.forecast_id != result.forecast_id
        stored = _predictions(session, "r")
        assert len(stored) == 12
        assert {p.forecast_id for p in stored} == {result.forecast_id, again.forecast_id}


def test_an_artifact_that_fails_its_check_is_refused_and_never_loaded(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    cache = ModelCache()
    with sessions() as session:
        series = add_series(session, line)
        # The bytes were changed after the hash was recorded.
        add_version(
            session,
            series.id,
            tiny_artifact[:100] + b"tampered" + tiny_artifact[108:],
            artifact_sha256=hashlib.sha256(tiny_artifact).hexdigest(),
            version=1,
            status="active",
        )
        with pytest.raises(ArtifactIntegrityError, match="fails its sha256 check"):
            forecast_series(session=session, cache=cache, series=series, request_id="r")
        assert len(cache) == 0
        assert session.scalar(select(func.count()).select_from(Prediction)) == 0


def test_the_cache_keeps_the_most_recently_used_models_within_its_bytes(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    cache = ModelCache(max_bytes=2 * len(tiny_artifact))  # two of them fit
    with sessions() as session:
        series = add_series(session, line)
        versions = [
            add_version(session, series.id, tiny_artifact, version=n, status="retired")
            for n in (1, 2, 3)
        ]
    first = cache.get(versions[0])
    assert cache.get(versions[0]) is first  # loaded once, then shared
    assert cache.bytes == len(tiny_artifact)
    cache.get(versions[1])
    cache.get(versions[0])  # now the most recently used
    cache.get(versions[2])
    assert versions[0] in cache and versions[2] in cache and versions[1] not in cache
    assert len(cache) == 2 and cache.bytes == 2 * len(tiny_artifact)


def test_a_model_over_the_whole_budget_is_served_and_then_cached_alone(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifacts: tuple[bytes, bytes]
) -> None:
    small, large = sorted(tiny_artifacts, key=len)
    cache = ModelCache(max_bytes=len(large) - 1)
    with sessions() as session:
        series = add_series(session, line)
        light = add_version(session, series.id, small, version=1, status="retired")
        heavy = add_version(session, series.id, large, version=2, status="retired")
    cache.get(light)
    assert cache.get(heavy).forecast(line) is not None
    assert heavy in cache and light not in cache and cache.bytes == len(large)
    cache.get(light)  # the heavy one was over budget alone: it goes first
    assert light in cache and heavy not in cache and cache.bytes == len(small)


def test_a_cache_budget_below_one_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="cache budget must be positive, got 0 bytes"):
        ModelCache(max_bytes=0)


def test_the_cache_serves_threads_at_once_within_its_budget(
    sessions: sessionmaker[Session], line: pd.DataFrame, tiny_artifact: bytes
) -> None:
    cache = ModelCache(max_bytes=2 * len(tiny_artifact))
    with sessions() as session:
        series = add_series(session, line)
        versions = [
            add_version(session, series.id, tiny_artifact, version=n, status="retired")
            for n in (1, 2, 3)
        ]
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def use(offset: int) -> None:
        try:
            barrier.wait()
            for k in range(6):
                cache.get(versions[(offset + k) % 3]).forecast(line)
        except BaseException as error:  # asserted below
            errors.append(error)

    threads = [threading.Thread(target=use, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(cache) == 2
