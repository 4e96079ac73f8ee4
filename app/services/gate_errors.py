"""The gate's errors broken down by forecast step and by origin, as kept with each version.

The gate (`app.services.backtest`) decides on one mean squared error per model; whoever has to
trust that decision wants to see where the error comes from: whether a candidate wins on the
first steps and loses on the last, or on all origins but one bad day. The gate already has every
compared model's forecasts and errors on the same origins and steps, so it keeps them here at
no extra forecasting cost: per step and per origin MSE and MAE of each compared model, one
document stored with the version (`ModelVersion.metrics["backtest"]`, see `document`) and read
back by the API and the dashboard (`app.services.backtest_report`).

Roles, in the order they are stored: `candidate` (the member the version serves), `repeat-last`,
`fallback` (the best of the candidate's other members on the gate: its statistical baseline)
and `active` (the model in service the candidate was judged against), the last two when there
were some.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from app.db.json_values import json_safe

Role = Literal["candidate", "repeat-last", "fallback", "active"]
# Bumped when the stored document changes shape, so readers can tell the versions apart.
DOCUMENT_FORMAT = 1
# Where a version's metrics keep the document.
BACKTEST_KEY = "backtest"


@dataclass(frozen=True)
class ErrorProfile:
    """One compared model's gate errors in the series' units: overall, by step (1..steps) and
    by origin (the gate's origins, in order); NaN where a step or origin had no reading."""

    role: Role
    name: str
    mse: float
    mae: float
    step_mse: tuple[float, ...]
    step_mae: tuple[float, ...]
    origin_mse: tuple[float, ...]
    origin_mae: tuple[float, ...]


def error_profile(
    role: Role, name: str, scored: pd.DataFrame, steps: int, origins: Sequence[pd.Timestamp]
) -> ErrorProfile:
    """Break down the scored rows (`ManyForecasts.scored`: origin, step, median, actual) of one
    model already cut to the gate's origins and steps."""
    error = scored["median"] - scored["actual"]
    frame = pd.DataFrame(
        {"origin": scored["origin"], "step": scored["step"], "se": error**2, "ae": error.abs()}
    )
    by_step = frame.groupby("step")[["se", "ae"]].mean().reindex(range(1, steps + 1))
    by_origin = frame.groupby("origin")[["se", "ae"]].mean().reindex(pd.DatetimeIndex(origins))
    return ErrorProfile(
        role=role,
        name=name,
        mse=float(frame["se"].mean()),
        mae=float(frame["ae"].mean()),
        step_mse=_floats(by_step["se"]),
        step_mae=_floats(by_step["ae"]),
        origin_mse=_floats(by_origin["se"]),
        origin_mae=_floats(by_origin["ae"]),
    )


@dataclass(frozen=True)
class GateErrors:
    """Every compared model's `ErrorProfile` on the gate's `origins` and steps 1..`steps`."""

    steps: int
    origins: tuple[pd.Timestamp, ...]
    profiles: tuple[ErrorProfile, ...]

    def to_document(self) -> dict[str, Any]:
        """The JSON kept with the version: steps, origins (ISO stamps) and each model's errors,
        NaN as null."""
        return json_safe(
            {
                "format": DOCUMENT_FORMAT,
                "steps": self.steps,
                "origins": [origin.isoformat() for origin in self.origins],
                "models": [
                    {
                        "role": p.role,
                        "name": p.name,
                        "mse": p.mse,
                        "mae": p.mae,
                        "step_mse": list(p.step_mse),
                        "step_mae": list(p.step_mae),
                        "origin_mse": list(p.origin_mse),
                        "origin_mae": list(p.origin_mae),
                    }
                    for p in self.profiles
                ],
            }
        )


def _floats(values: pd.Series) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=float))


def with_gate_errors(metrics: dict[str, Any], errors: GateErrors | None) -> dict[str, Any]:
    """A version's `metrics` with the breakdown under `backtest` (BACKTEST_KEY). Only the
    version keeps it: its training run's metrics, listed by the page, stay the aggregates."""
    return metrics if errors is None else {**metrics, BACKTEST_KEY: errors.to_document()}
