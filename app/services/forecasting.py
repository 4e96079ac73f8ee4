"""Serving forecasts from a series' active model, and keeping each one to score it later.

Every forecast is stored, one `Prediction` row per step, in one transaction with nothing else,
so the error of what was served can be measured once the readings arrive. Loaded models are
kept in an LRU cache bounded in bytes, keyed by version id and artifact hash: a promotion or
rollback changes the key, so the cache never serves a version that is no longer active.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.db.models import ModelVersion, Prediction, Series
from app.services.registry import active_version, load_model
from app.services.series_data import context_rows, load_frame
from app.settings import MODEL_CACHE_BYTES
from model.line_model import FittedLineModel


class ModelCache:
    """The most recently used models, loaded once each, shared between threads, within a
    budget of `max_bytes` (each model weighs its artifact's size: its weights and fitted
    preprocessing are what it holds in memory). A count of models bounded nothing: a global
    model or a wide GRU weighs a hundred small ones. A model over the whole budget is still
    served, and then is all the cache holds.

    Forecasting only reads a model (evaluation mode, no gradients), so threads may share one.
    Loading happens outside the lock: a slow load does not hold up forecasts of cached models,
    and two threads loading the same version at once merely do the work twice.
    """

    def __init__(self, max_bytes: int = MODEL_CACHE_BYTES, device: str = "cpu") -> None:
        if max_bytes < 1:
            raise ValueError(f"cache budget must be positive, got {max_bytes} bytes")
        self.max_bytes, self.device = max_bytes, device
        self._models: OrderedDict[tuple[int, str], tuple[FittedLineModel, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, version: ModelVersion) -> FittedLineModel:
        """The version's model; its artifact is checked against its sha256 before loading."""
        key = (version.id, version.artifact_sha256)
        with self._lock:
            cached = self._models.get(key)
            if cached is not None:
                self._models.move_to_end(key)
                return cached[0]
        model = load_model(version, device=self.device)
        weight = len(version.artifact)
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
        with self._lock:
            return (version.id, version.artifact_sha256) in self._models

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)


@dataclass(frozen=True)
class ForecastResult:
    """A served forecast: `values` (steps, Q) for `quantiles` at `stamps` (UTC); `origin` is
    the last reading used and `model` the member of the version that forecast it."""

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
) -> ForecastResult:
    """Forecast the steps after the latest reading (or after `context_frame`, a frame with a
    "value" column on a UTC index) with the active model, and store the forecast.

    Every quantile the model forecasts is stored; the result holds those in `quantiles` (all
    by default). LookupError when the series has no active model; ValueError for a horizon
    beyond the model's, a quantile it does not forecast, or context the model cannot read;
    `ArtifactIntegrityError` for an artifact that fails its check. Everything is checked
    before anything is stored.

    The forecast gets a fresh `forecast_id`. `request_id` (the client's label) and
    `api_key_id` (who asked) are stored beside it: a request id is the caller's to reuse.
    """
    version = active_version(session=session, series_id=series.id, with_artifact=False)
    if version is None:
        raise LookupError(f"series {series.id} has no active model; train it first")
    model = cache.get(version)
    steps = model.horizon if horizon is None else horizon
    if not 1 <= steps <= model.horizon:
        raise ValueError(
            f"horizon {steps} is outside what the active model v{version.version} forecasts: "
            f"1 to {model.horizon} steps"
        )
    columns = _columns(model.quantiles, quantiles)
    if context_frame is None:
        context_frame = load_frame(
            session=session, series_id=series.id, last=context_rows(model.context)
        )
    forecast = model.forecast(context_frame)
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
            "series_id": series.id,
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
    session.execute(insert(Prediction), rows)
    session.commit()
    return ForecastResult(
        series_id=series.id,
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
    )


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
