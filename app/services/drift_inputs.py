"""What a drift run reads, loaded once: the window, the reference, predictions and the model.

The window is the latest `drift_window_steps` readings after the active version's training
data (after `metrics["training_end"]`) and at or before `now`; the reference is the
`drift_reference_steps` readings up to `training_end`, the data the model learnt from.
`measure(inputs, kind)` turns them into judged metrics with `app.drift.measure`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import DriftKind, ModelVersion, Observation, Prediction, Series
from app.drift.measure import (
    Judging,
    Measured,
    forecast_pairs,
    measure_distribution,
    measure_performance,
    measure_stationarity,
)
from app.services.backtest import gate_span
from app.services.forecasting import ModelCache
from app.services.registry import active_version, load_model
from app.services.series_data import context_rows, load_frame
from app.services.training import channels_read
from app.settings import Settings
from model.line_model import FittedLineModel

# Forecasts re-run for a baseline at most: a 5-minute series forecast at every reading would
# otherwise re-run weeks of them on every drift run. They run as one batched pass
# (`FittedLineModel.forecast_many`), so 512 cost about what 96 did one by one, and give the
# prediction baseline the three windows of served forecasts its thresholds are calibrated on
# (96 origins left 450 reference medians against 160 served a week: too few to calibrate).
MAX_FORECAST_ORIGINS = 512


class NothingToJudge(LookupError):
    """No drift to measure yet: no active version, or no reading after its training data."""


@dataclass(frozen=True)
class RunInputs:
    """The data of one run; `details` is what every stored metric of it records."""

    session: Session
    version: ModelVersion
    model: FittedLineModel
    reference: pd.DataFrame
    window: pd.DataFrame
    reference_end: pd.Timestamp
    window_steps: int
    judging: Judging
    details: dict[str, Any]


def load_inputs(
    *,
    session: Session,
    series: Series,
    now: datetime,
    settings: Settings,
    cache: ModelCache | None = None,
) -> RunInputs:
    """The run's data; `NothingToJudge` without an active version or a reading to judge."""
    version = active_version(session=session, series_id=series.id)
    if version is None:
        raise NothingToJudge(f"series {series.id} has no active model")
    end = version.metrics.get("training_end")
    # A version trained elsewhere records no end of its training data: take it to have seen
    # everything stored before it was.
    reference_end = pd.Timestamp(end) if end else pd.Timestamp(version.created_at)
    # The channels the model reads travel with the readings: its forecasts need them.
    columns = channels_read(version.config)
    window = load_frame(
        session=session,
        series_id=series.id,
        start=reference_end.to_pydatetime(),
        end=now,
        last=settings.drift_window_steps + 1,
        columns=columns,
    )
    window = window.loc[window.index > reference_end].iloc[-settings.drift_window_steps :]
    if window.empty:
        raise NothingToJudge(
            f"series {series.id} has no reading after v{version.version}'s training data "
            f"(after {reference_end.isoformat()}) up to {now.isoformat()}"
        )
    reference = load_frame(
        session=session,
        series_id=series.id,
        end=reference_end.to_pydatetime(),
        last=settings.drift_reference_steps,
        columns=columns,
    )
    index = reference.index
    details = {
        "model_version": version.version,
        "reference": {
            "points": len(index),
            "start": index[0].isoformat() if len(index) else None,
            "end": index[-1].isoformat() if len(index) else None,
            "training_end": reference_end.isoformat(),
            "training_end_recorded": bool(end),
        },
        "window_points": len(window),
    }
    return RunInputs(
        session=session,
        version=version,
        model=cache.get(version) if cache is not None else load_model(version),
        reference=reference,
        window=window,
        reference_end=reference_end,
        window_steps=settings.drift_window_steps,
        judging=Judging(
            settings.drift_min_points, settings.drift_calibrate, settings.drift_thresholds
        ),
        details=details,
    )


def measure(inputs: RunInputs, kind: DriftKind) -> list[Measured]:
    """Every metric of one kind, judged."""
    kinds: dict[DriftKind, Callable[[RunInputs], list[Measured]]] = {
        "performance": _performance,
        "data": _data,
        "stationarity": _stationarity,
        "prediction": _prediction,
    }
    return kinds[kind](inputs)


def _data(inputs: RunInputs) -> list[Measured]:
    reference = inputs.reference["value"].to_numpy()
    current = inputs.window["value"].to_numpy()
    details = {**inputs.details, "baseline": "training reference readings"}
    return measure_distribution("data", reference, current, inputs.judging, details)


def _prediction(inputs: RunInputs) -> list[Measured]:
    """The window's forecast medians against the model's forecasts over its reference, made
    at the same clock times of day: medians against medians (a median is smoother than the
    readings, so against readings its spread and shape always look drifted), with enough of
    them to calibrate on."""
    window = inputs.window.index
    query = (
        select(Prediction.ts, Prediction.origin, Prediction.median)
        .where(
            Prediction.series_id == inputs.version.series_id,
            Prediction.model_version_id == inputs.version.id,
            Prediction.ts >= window[0].to_pydatetime(),
            Prediction.ts <= window[-1].to_pydatetime(),
        )
        # One median per stamp: the shortest step's, the freshest forecast of it.
        .order_by(Prediction.ts, Prediction.step)
    )
    rows = inputs.session.execute(query).all()
    served = pd.DataFrame(rows, columns=["ts", "origin", "median"]).drop_duplicates("ts")
    history = context_rows(inputs.model.context)
    origins = _origins_at(inputs.reference.index, history - 1, served["origin"])
    if len(served) < inputs.judging.min_points:
        origins = []  # judged unknown anyway: no baseline forecasts to pay for
    forecasts = forecast_pairs(inputs.model, inputs.reference, origins)
    baseline = forecasts.sort_values(["position", "step"]).drop_duplicates("position")
    details = {
        **inputs.details,
        "forecast_points": len(served),
        "baseline": f"the model's forecasts over its reference from {len(origins)} origins at "
        "the window's forecast times of day (one median per stamp)",
    }
    current = served["median"].to_numpy(dtype=float)
    reference = baseline["median"].to_numpy(dtype=float)
    return measure_distribution("prediction", reference, current, inputs.judging, details)


def _origins_at(index: pd.DatetimeIndex, first: int, origins: pd.Series) -> list[int]:
    """Positions from `first` on (but the last) whose time of day is one of `origins`', evenly
    thinned to `MAX_FORECAST_ORIGINS`: forecasts re-run to compare with the served ones start
    where in the day those did, as a forecast's error and level depend on it."""
    day = pd.Timedelta(days=1)
    stamps = pd.DatetimeIndex(pd.to_datetime(origins, utc=True))
    phases = set((stamps - stamps.normalize()) % day)
    candidates = index[first:-1]
    times = (candidates - candidates.normalize()) % day
    positions = [first + i for i, time in enumerate(times) if time in phases]
    if len(positions) > MAX_FORECAST_ORIGINS:
        keep = np.linspace(0, len(positions) - 1, MAX_FORECAST_ORIGINS).round().astype(int)
        positions = [positions[i] for i in keep]
    return positions


def _stationarity(inputs: RunInputs) -> list[Measured]:
    details = {
        **inputs.details,
        "training_verdict": inputs.version.preprocessing.get("after", {}).get("verdict"),
    }
    return measure_stationarity(
        inputs.model, inputs.window, inputs.reference, inputs.judging, details
    )


def _performance(inputs: RunInputs) -> list[Measured]:
    window = inputs.window.index
    query = (
        select(
            Prediction.forecast_id,
            Prediction.origin,
            Prediction.step,
            Prediction.median,
            Prediction.lower,
            Prediction.upper,
            Observation.value,
        )
        .join(
            Observation,
            (Observation.series_id == Prediction.series_id) & (Observation.ts == Prediction.ts),
        )
        .where(
            Prediction.series_id == inputs.version.series_id,
            Prediction.model_version_id == inputs.version.id,
            Prediction.ts >= window[0].to_pydatetime(),
            Prediction.ts <= window[-1].to_pydatetime(),
        )
    )
    columns = ["forecast_id", "origin", "step", "median", "lower", "upper", "actual"]
    pairs = pd.DataFrame(inputs.session.execute(query).all(), columns=columns)
    details = {
        **inputs.details,
        "pairs": len(pairs),
        "forecasts": int(pairs["forecast_id"].nunique()),
    }
    validation, source = pd.DataFrame(), ""
    if len(pairs) >= inputs.judging.min_points:
        validation, source = _validation_pairs(inputs, pairs["origin"])
    details["validation"] = source
    return measure_performance(pairs, validation, inputs.judging, details)


def _validation_pairs(inputs: RunInputs, origins: pd.Series) -> tuple[pd.DataFrame, str]:
    """The model's validation, scored step by step: its forecasts over the stretch after
    `training_end` (where training ran its backtest; out of sample for the version), made at
    the clock times of day of the window's forecasts (`origins`), until the stretch spans a
    monitoring window.

    Not just the stored backtest: it spans `gate_span(horizon)` readings (about three days
    for an hourly model of horizon 6), too few to stand for a week of shifts and weekends,
    and a forecast's error depends on where in the day it starts (across a shift change or
    not). Judged against the stored backtest, quiet simulated weeks had an MAE ratio of 2 to
    3. A window inside the stretch is partly compared with itself; the details say how much.
    """
    version, model = inputs.version, inputs.model
    if not version.metrics.get("training_end"):
        return pd.DataFrame(), "none: the version records no training_end to validate after"
    horizon, rows = model.horizon, context_rows(model.context)
    span = max(gate_span(horizon), inputs.window_steps)
    end = inputs.reference_end.to_pydatetime()
    columns = channels_read(version.config)
    before = load_frame(
        session=inputs.session, series_id=version.series_id, end=end, last=rows, columns=columns
    )
    after = _first_readings(inputs.session, version.series_id, end, span + 1, columns)
    frame = pd.concat([before, after.iloc[1:]])
    positions = _origins_at(frame.index, len(before) - 1, origins)
    pairs = forecast_pairs(model, frame, positions)
    overlap = int((inputs.window.index <= after.index[-1]).sum()) if len(after) else 0
    return pairs, (
        f"forecasts over the {len(after) - 1} readings after {after.index[0].isoformat()} "
        f"from {len(positions)} origins at the window's forecast times of day, "
        f"{len(pairs)} steps scored (stored backtest MAE {version.metrics.get('backtest_mae')}); "
        f"{overlap} of the window's readings lie in that stretch"
    )


def _first_readings(
    session: Session, series_id: int, start: datetime, count: int, columns: list[str]
) -> pd.DataFrame:
    """The first `count` readings at or after `start` (with `columns`), as `load_frame` gives
    them."""
    last = session.scalar(
        select(Observation.ts)
        .where(Observation.series_id == series_id, Observation.ts >= start)
        .order_by(Observation.ts)
        .offset(count - 1)
        .limit(1)
    )
    return load_frame(session=session, series_id=series_id, start=start, end=last, columns=columns)
