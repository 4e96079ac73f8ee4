"""Serving forecasts from a series' active model, and keeping each one to score it later.

Every forecast is stored, one `Prediction` row per step, in one transaction with nothing else,
so the error of what was served can be measured once the readings arrive. Loaded models are
kept in a small LRU cache keyed by version id and artifact hash: a promotion or rollback
changes the key, so the cache never serves a version that is no longer active.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import ModelVersion, Prediction, Series
from app.services.registry import active_version, load_model
from app.services.series_data import context_rows, load_frame
from model.line_model import LineModel


class ModelCache:
    """The `size` most recently used models, loaded once each, shared between threads.

    Forecasting only reads a model (evaluation mode, no gradients), so threads may share one.
    Loading happens outside the lock: a slow load does not hold up forecasts of cached models,
    and two threads loading the same version at once merely do the work twice.
    """

    def __init__(self, size: int = 8, device: str = "cpu") -> None:
        if size < 1:
            raise ValueError(f"cache size must be positive, got {size}")
        self.size, self.device = size, device
        self._models: OrderedDict[tuple[int, str], LineModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: ModelVersion) -> LineModel:
        """The version's model; its artifact is checked against its sha256 before loading."""
        key = (version.id, version.artifact_sha256)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
        model = load_model(version, device=self.device)
        with self._lock:
            self._models[key] = model
            self._models.move_to_end(key)
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return model

    def __contains__(self, version: ModelVersion) -> bool:
        with self._lock:
            return (version.id, version.artifact_sha256) in self._models

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)


@dataclass(frozen=True)
class ForecastResult:
    """A served forecast: `values` has one column per quantile ("q0.1", "q0.5", "q0.9") and
    the forecast stamps (UTC) as index; `origin` is the last reading used."""

    series_id: int
    model_version_id: int
    model_version: int
    request_id: str
    origin: pd.Timestamp
    filled_context: int
    values: pd.DataFrame

    @property
    def stamps(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.values.index)


def forecast_series(
    *,
    session: Session,
    cache: ModelCache,
    series: Series,
    horizon: int | None = None,
    quantiles: list[float] | None = None,
    context_frame: pd.DataFrame | None = None,
    request_id: str,
) -> ForecastResult:
    """Forecast the steps after the latest reading (or after `context_frame`, a frame with a
    "value" column on a UTC index) with the active model, and store the forecast.

    Every quantile the model forecasts is stored; the result holds those in `quantiles` (all
    by default). LookupError when the series has no active model; ValueError for a horizon
    beyond the model's, a quantile it does not forecast, context the model cannot read, or a
    request id already used; `ArtifactIntegrityError` for an artifact that fails its check.
    Everything is checked before anything is stored.
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
    columns = _columns(model.network_config.quantiles, quantiles)
    if context_frame is None:
        context_frame = load_frame(
            session=session, series_id=series.id, last=context_rows(model.context)
        )
    forecast = model.forecast(context_frame)
    values = forecast.values.iloc[:steps]
    # Core executemany from arrays, not ORM objects from `iterrows`: the request is timed
    # in milliseconds and 96 ORM objects cost more than the network's forward pass.
    origin = forecast.origin.to_pydatetime()
    quantiles = values.to_numpy()
    names = list(values.columns)
    median = names.index("q0.5")
    rows = [
        {
            "series_id": series.id,
            "model_version_id": version.id,
            "request_id": request_id,
            "origin": origin,
            "ts": stamp,
            "step": step,
            "median": float(row[median]),
            "lower": float(row[0]),
            "upper": float(row[-1]),
            "quantiles": dict(zip(names, row.tolist(), strict=True)),
        }
        for step, (stamp, row) in enumerate(
            zip(values.index.to_pydatetime(), quantiles, strict=True), start=1
        )
    ]
    try:
        session.execute(insert(Prediction), rows)
        session.commit()
    except IntegrityError as error:
        session.rollback()
        if "uq_predictions_request_id_step" not in str(error.orig):
            raise
        raise ValueError(f"request id {request_id!r} was already used for a forecast") from error
    return ForecastResult(
        series_id=series.id,
        model_version_id=version.id,
        model_version=version.version,
        request_id=request_id,
        origin=forecast.origin,
        filled_context=forecast.filled_context,
        values=values[columns],
    )


def _columns(available: tuple[float, ...], wanted: list[float] | None) -> list[str]:
    """The forecast columns asked for; ValueError for a quantile the model does not forecast."""
    if wanted is None:
        return [f"q{q:g}" for q in available]
    unknown = [q for q in wanted if q not in available]
    if unknown:
        raise ValueError(
            f"quantile {unknown[0]:g} is not one the active model forecasts "
            f"({', '.join(f'{q:g}' for q in available)})"
        )
    return [f"q{q:g}" for q in wanted]
