"""Serving forecasts from a series' active model, and keeping each one to score it later.

Every forecast is stored, one `Prediction` row per step, in one transaction with nothing else
(but the version a cold start creates), so the error of what was served can be measured once
the readings arrive. Loaded models are kept in an LRU cache bounded in bytes, keyed by version
id and artifact hash: a promotion or rollback changes the key, so the cache never serves a
version that is no longer active. A global model is cached once, keyed by its own id and hash,
however many series it serves: their versions share it (`model.global_view`).

A series with no version in service, in the scope of an active global model, is forecast by
that model from its first reading (a cold start, `app.services.global_models`).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.db.models import ModelVersion, Prediction, Series
from app.services.forecast_covariates import (
    GivenKnown,
    channels_needed,
    check_given_known,
    covariates_served,
    horizon_known,
)
from app.services.global_models import start_cold_start
from app.services.registry import (
    ServedModel,
    active_version,
    backing_model,
    load_global_model,
    load_model,
    series_view,
    session_of,
)
from app.services.series_data import context_rows, load_frame
from app.settings import MODEL_CACHE_BYTES
from model.global_model import FittedGlobalModel

# A cached model: a version's own (("version", id, sha256)) or a global model shared by the
# versions it backs (("global", id, sha256)).
_Key = tuple[str, int, str]


class ModelCache:
    """The most recently used models, loaded once each, shared between threads, within a
    budget of `max_bytes` (each model weighs its artifact's size: its weights and fitted
    preprocessing are what it holds in memory). A count of models bounded nothing: a global
    model or a wide GRU weighs a hundred small ones. A model over the whole budget is still
    served, and then is all the cache holds. A global model is held once for every version
    it backs; each `get` wraps it in the series' view, which holds nothing of its own.

    Forecasting only reads a model (evaluation mode, no gradients), so threads may share one.
    Loading happens outside the lock: a slow load does not hold up forecasts of cached models,
    and two threads loading the same version at once merely do the work twice.
    """

    def __init__(self, max_bytes: int = MODEL_CACHE_BYTES, device: str = "cpu") -> None:
        if max_bytes < 1:
            raise ValueError(f"cache budget must be positive, got {max_bytes} bytes")
        self.max_bytes, self.device = max_bytes, device
        self._models: OrderedDict[_Key, tuple[ServedModel | FittedGlobalModel, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, version: ModelVersion) -> ServedModel:
        """The version's model; its artifact is checked against its sha256 before loading. A
        global-backed version (read in an open session) is served by its cached global model."""
        key = _key(version)
        if version.global_model_id is None:
            model = self._cached(
                key, lambda: (load_model(version, device=self.device), len(version.artifact))
            )
            assert not isinstance(model, FittedGlobalModel)  # stored under a version's key
            return model
        session = session_of(version)

        def load() -> tuple[FittedGlobalModel, int]:
            stored = backing_model(session, version)
            return load_global_model(stored, device=self.device), len(stored.artifact)

        shared = self._cached(key, load)
        assert isinstance(shared, FittedGlobalModel)  # stored under a global model's key
        return series_view(session, shared, version.series_id)

    def _cached(
        self, key: _Key, load: Callable[[], tuple[ServedModel | FittedGlobalModel, int]]
    ) -> ServedModel | FittedGlobalModel:
        with self._lock:
            cached = self._models.get(key)
            if cached is not None:
                self._models.move_to_end(key)
                return cached[0]
        model, weight = load()
        with self._lock:
            if key not in self._models:
                self._models[key] = (model, weight)
                self._bytes += weight
            self._models.move_to_end(key)
            while self._bytes > self.max_bytes and len(self._models) > 1:
                _, (_, evicted) = self._models.popitem(last=False)
                self._bytes -= evicted
        return model

    @property
    def bytes(self) -> int:
        """What the cached models weigh together."""
        with self._lock:
            return self._bytes

    def __contains__(self, version: ModelVersion) -> bool:
        """Whether the version's model is loaded (for a global-backed version: its global
        model, which other series may have loaded)."""
        with self._lock:
            return _key(version) in self._models

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)


def _key(version: ModelVersion) -> _Key:
    if version.global_model_id is None:
        return ("version", version.id, version.artifact_sha256)
    return ("global", version.global_model_id, version.artifact_sha256)


@dataclass(frozen=True)
class ForecastResult:
    """A served forecast: `values` (steps, Q) for `quantiles` at `stamps` (UTC); `origin` is
    the last reading used and `model` the member of the version that forecast it ("gru:global"
    or "gru:global-cold-start" for a version backed by a global model)."""

    series_id: int
    model_version_id: int
    model_version: int
    forecast_id: str
    request_id: str
    origin: pd.Timestamp
    filled_context: int
    model: str
    stamps: pd.DatetimeIndex
    quantiles: tuple[float, ...]
    values: np.ndarray
    # The series' channels the model read (`app.services.forecast_covariates`).
    covariates: tuple[str, ...] = ()


def forecast_series(
    *,
    session: Session,
    cache: ModelCache,
    series: Series,
    horizon: int | None = None,
    quantiles: list[float] | None = None,
    context_frame: pd.DataFrame | None = None,
    request_id: str,
    api_key_id: int | None = None,
    known: GivenKnown | None = None,
) -> ForecastResult:
    """Forecast the steps after the latest reading (or after `context_frame`, a frame with a
    "value" column on a UTC index) with the active model, and store the forecast. A series
    without one, in the scope of an active global model, gets its cold-start version first,
    in the same transaction (`start_cold_start`).

    Every quantile the model forecasts is stored; the result holds those in `quantiles` (all
    by default). LookupError when nothing can serve the series; ValueError for a horizon
    beyond the model's, a quantile it does not forecast, or context the model cannot read;
    `ArtifactIntegrityError` for an artifact that fails its check. Everything is checked
    before anything is stored.

    The forecast gets a fresh `forecast_id`. `request_id` (the client's label) and
    `api_key_id` (who asked) are stored beside it: a request id is the caller's to reuse.
    A model that reads channels gets their columns in its context, and `known` (the request's
    values of the horizon) or else the stored plan (`horizon_known`).
    """
    check_given_known(series, known)
    version = active_version(session=session, series_id=series.id, with_artifact=False)
    if version is None:
        version = start_cold_start(session=session, series=series)
    model = cache.get(version)
    if context_frame is None:
        context_frame = load_frame(
            session=session,
            series_id=series.id,
            last=context_rows(model.context),
            columns=channels_needed(model),
        )
    future_known = horizon_known(
        session=session, series=series, model=model, context=context_frame, given=known
    )
    served = serve_forecast(
        series_id=series.id,
        version=version,
        model=model,
        context_frame=context_frame,
        horizon=horizon,
        quantiles=quantiles,
        request_id=request_id,
        api_key_id=api_key_id,
        future_known=future_known,
    )
    session.execute(insert(Prediction), served.rows)
    session.commit()
    return served.result


@dataclass(frozen=True)
class ServedForecast:
    """A forecast computed and checked, not yet stored: the answer and its prediction rows."""

    result: ForecastResult
    rows: list[dict[str, Any]]


def serve_forecast(
    *,
    series_id: int,
    version: ModelVersion,
    model: ServedModel,
    context_frame: pd.DataFrame,
    horizon: int | None,
    quantiles: list[float] | None,
    request_id: str,
    api_key_id: int | None,
    future_known: pd.DataFrame | None = None,
) -> ServedForecast:
    """Forecast with `model` (the version's) after `context_frame` and build the rows that
    store it; ValueError as `forecast_series` says. Stores nothing, so a batch can store many
    forecasts in one statement (`app.services.batch_forecasting`)."""
    steps = model.horizon if horizon is None else horizon
    if not 1 <= steps <= model.horizon:
        raise ValueError(
            f"horizon {steps} is outside what the active model v{version.version} forecasts: "
            f"1 to {model.horizon} steps"
        )
    columns = _columns(model.quantiles, quantiles)
    forecast = model.forecast(context_frame, future_known)
    values = forecast.values[:steps]
    if not np.isfinite(values).all():
        raise ValueError(
            "the forecast is not a finite number: the context holds values too large to "
            "compute with"
        )
    stamps = forecast.stamps[:steps]
    # Core executemany from arrays, not ORM objects: the request is timed in milliseconds
    # and 96 ORM objects cost more than the network's forward pass.
    origin = forecast.origin.to_pydatetime()
    names = [_label(q) for q in model.quantiles]
    median = model.quantiles.index(0.5)
    forecast_id = uuid.uuid4().hex
    rows = [
        {
            "series_id": series_id,
            "model_version_id": version.id,
            "forecast_id": forecast_id,
            "request_id": request_id,
            "api_key_id": api_key_id,
            "origin": origin,
            "ts": stamp,
            "step": step,
            "median": float(row[median]),
            "lower": float(row[0]),
            "upper": float(row[-1]),
            "quantiles": dict(zip(names, row.tolist(), strict=True)),
        }
        for step, (stamp, row) in enumerate(
            zip(stamps.to_pydatetime(), values, strict=True), start=1
        )
    ]
    result = ForecastResult(
        series_id=series_id,
        model_version_id=version.id,
        model_version=version.version,
        forecast_id=forecast_id,
        request_id=request_id,
        origin=forecast.origin,
        filled_context=forecast.filled_context,
        model=forecast.model,
        stamps=stamps,
        quantiles=tuple(model.quantiles[i] for i in columns),
        values=values[:, columns],
        covariates=covariates_served(model),
    )
    return ServedForecast(result, rows)


def _columns(available: tuple[float, ...], wanted: list[float] | None) -> list[int]:
    """The forecast columns asked for; ValueError for a quantile the model does not forecast."""
    if wanted is None:
        return list(range(len(available)))
    unknown = [q for q in wanted if q not in available]
    if unknown:
        raise ValueError(
            f"quantile {unknown[0]:g} is not one the active model forecasts "
            f"({', '.join(f'{q:g}' for q in available)})"
        )
    return [available.index(q) for q in wanted]


def _label(quantile: float) -> str:
    """The key a quantile is stored under in a prediction row's JSON ("q0.1")."""
    return f"q{quantile:g}"
