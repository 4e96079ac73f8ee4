"""Rolling-origin backtests: how far a model's median lands from what the line then did.

The origins are observation stamps in the last `windows * horizon` observations, one every
`horizon` observations, so the forecasts after them tile that stretch without overlap. At each
origin the model reads only the data up to it; its median is compared with the readings that
exist at the forecast stamps (a stop has none, and is skipped), and the absolute errors of all
origins are pooled into one mean, in the series' own units.

The gate (`score_for_gate`, `judge`) scores the candidate, the model in service and repeat-last
on the same origins (those where both models can forecast) and the same data, over the steps
both models forecast. The candidate never trained on the rows after the first origin
(`app.services.training` trains it on the data before them), but the model in service may have:
an older model trained when those rows were already stored. That can only flatter the
incumbent, which is the safe direction for a gate deciding whether to replace it; a fair split
would need the incumbent retrained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from app.services.series_data import context_rows
from model.line_model import LineModel
from preprocessing.pipeline import PreprocessingError


def backtest_origins(frame: pd.DataFrame, horizon: int, windows: int = 8) -> list[pd.Timestamp]:
    """`windows` origins, `horizon` observations apart, the last one `horizon` before the end."""
    if horizon < 1 or windows < 1:
        raise ValueError(f"horizon and windows must be positive, got {horizon} and {windows}")
    if len(frame) < windows * horizon + 1:
        raise ValueError(
            f"{len(frame)} observations are too few for {windows} backtest windows of "
            f"{horizon} steps"
        )
    positions = [len(frame) - 1 - (windows - i) * horizon for i in range(windows)]
    return [frame.index[p] for p in positions]


def forecastable_origins(
    models: Sequence[LineModel], frame: pd.DataFrame, origins: Sequence[pd.Timestamp]
) -> list[pd.Timestamp]:
    """The origins at which every model forecasts: a model refuses one whose context is too
    short or lies mostly in a stop, and models compared must be compared on the same origins."""
    kept = []
    for origin in origins:
        try:
            for model in models:
                model.forecast(_history(model, frame, origin))
        except PreprocessingError:
            continue
        kept.append(origin)
    return kept


def backtest_mae(
    model: LineModel,
    frame: pd.DataFrame,
    origins: Sequence[pd.Timestamp],
    steps: int | None = None,
) -> float:
    """Mean absolute error of the median over every origin's forecast steps that have a reading
    (the first `steps` of each forecast; all of them by default).

    Raises PreprocessingError where the model cannot forecast an origin (see
    `forecastable_origins`) and ValueError when no forecast step has a reading to compare.
    """
    errors = []
    actual = frame["value"]
    for origin in origins:
        median = model.forecast(_history(model, frame, origin)).values["q0.5"].iloc[:steps]
        errors.append((median - actual.reindex(median.index)).abs().dropna().to_numpy())
    return _pooled_mean(errors)


def naive_mae(
    frame: pd.DataFrame, origins: Sequence[pd.Timestamp], horizon: int, freq: str | None = None
) -> float:
    """The same error for repeating each origin's reading over the next `horizon` grid steps.

    `freq` is the grid (pass the model's, so both are scored at the same stamps); None takes
    the most common spacing of the observations.
    """
    step = pd.Timedelta(to_offset(freq)) if freq else _common_step(frame.index)
    actual = frame["value"]
    errors = []
    for origin in origins:
        stamps = pd.DatetimeIndex([origin + k * step for k in range(1, horizon + 1)])
        last = actual.loc[origin]
        errors.append((actual.reindex(stamps) - last).abs().dropna().to_numpy())
    return _pooled_mean(errors)


def _history(model: LineModel, frame: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    # Only the tail the forecast reads: preprocessing the whole history at every origin would
    # make a backtest of a long series cost minutes.
    return frame.loc[:origin].iloc[-context_rows(model.context) :]


def _common_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    if len(index) < 2:
        raise ValueError("need at least two observations to find their spacing")
    return pd.Series(index[1:] - index[:-1]).mode().iloc[0]


def _pooled_mean(errors: list[np.ndarray]) -> float:
    pooled = np.concatenate(errors) if errors else np.array([])
    if pooled.size == 0:
        raise ValueError("no readings after the backtest origins to compare forecasts with")
    return float(pooled.mean())


@dataclass(frozen=True)
class GateScores:
    """Backtest errors of a candidate, repeat-last and the active model on the same origins."""

    origins: int
    steps: int
    candidate_mae: float
    naive_mae: float
    active_mae: float | None


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def score_for_gate(
    candidate: LineModel,
    active: LineModel | None,
    frame: pd.DataFrame,
    origins: Sequence[pd.Timestamp],
) -> GateScores:
    """Score all three on the origins both models can forecast, over the steps both forecast
    (a model forecasting further is not penalised for the harder far steps)."""
    models = [candidate] if active is None else [candidate, active]
    usable = forecastable_origins(models, frame, origins)
    if not usable:
        raise ValueError(
            f"none of the {len(origins)} backtest origins has enough data before it for the "
            "models to forecast"
        )
    steps = min(model.horizon for model in models)
    freq = (
        candidate.pipeline.params.freq if candidate.pipeline and candidate.pipeline.params else None
    )
    return GateScores(
        origins=len(usable),
        steps=steps,
        candidate_mae=backtest_mae(candidate, frame, usable, steps=steps),
        naive_mae=naive_mae(frame, usable, steps, freq=freq),
        active_mae=None if active is None else backtest_mae(active, frame, usable, steps=steps),
    )


def judge(scores: GateScores, *, active_version: int | None, margin: float) -> GateDecision:
    """Promote a candidate that beats repeating the last value and, when a model is active,
    beats it by at least `margin` (a fraction of its error), so noise does not churn versions.

    A model that cannot beat repeat-last must never serve, first model or not.
    """
    c, n, a = scores.candidate_mae, scores.naive_mae, scores.active_mae
    if not c < n:
        return GateDecision(
            False, f"backtest MAE {c:.4g} does not beat repeating the last value ({n:.4g})"
        )
    if a is None:
        return GateDecision(
            True, f"first model: backtest MAE {c:.4g} beats repeating the last value ({n:.4g})"
        )
    shown = f"{margin * 100:g}%"
    if c < a and c <= a * (1 - margin):
        return GateDecision(
            True,
            f"backtest MAE {c:.4g} beats active v{active_version}'s {a:.4g} by the {shown} margin",
        )
    return GateDecision(
        False,
        f"backtest MAE {c:.4g} does not beat active v{active_version}'s {a:.4g} by the {shown} "
        "margin",
    )
