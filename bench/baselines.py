"""Baselines `bench/product.py` scores beside the product, all on one regular grid.

Shapes: N grid rows, n origins, H horizon. An origin is the row of a forecast's first step;
each baseline reads rows before it only.

* repeat-last: the last reading before the origin;
* seasonal-naive: the reading a whole number of periods earlier;
* ets: statsmodels' ETS, the strong statistical model (`ets_forecasts`);
* the raw GRU of `bench/accuracy.py` (`accuracy.fit_raw_gru`), called from `product.py`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.exponential_smoothing.ets import ETSModel


def repeat_last(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(n, H): the last finite reading before each origin, repeated."""
    last = pd.Series(values).ffill().to_numpy()[origins - 1]
    return np.repeat(last[:, None], horizon, axis=1)


def seasonal_naive(
    values: np.ndarray, origins: np.ndarray, horizon: int, period: int
) -> np.ndarray:
    """(n, H): each step repeats the reading whole periods before it (a gap reads as the
    last reading before it)."""
    filled = pd.Series(values).ffill().to_numpy()
    steps = np.arange(horizon)
    lag = period * (steps // period + 1)
    return filled[origins[:, None] + steps - lag]


def ets_forecasts(
    values: np.ndarray, train_end: int, origins: np.ndarray, horizon: int, period: int | None
) -> tuple[np.ndarray, str]:
    """(n, H) forecasts of statsmodels' ETS with additive errors and a damped additive trend,
    with an additive season of `period` where two cycles fit, the one with the lower AIC.

    Parameters are estimated on rows [0, train_end) (gaps interpolated: ETS takes no NaN);
    the states at each origin come from running the fitted model over all rows
    (`ETSModel.smooth`, which only filters forward), then the usual closed-form forecast.
    """
    filled = pd.Series(values).interpolate(limit_direction="both").to_numpy()
    specs = [None]
    if period is not None and 2 * period < train_end:
        specs.append(period)
    best = None
    for seasonal in specs:
        fitted = _fit(filled[:train_end], seasonal)
        if best is None or fitted[1].aic < best[1].aic:
            best = fitted
    assert best is not None
    seasonal, result = best
    model = _model(filled, seasonal)
    states = model.smooth(result.params).states.to_numpy()
    names = list(model.smooth(result.params).states.columns)
    phi = float(result.damping_trend)
    steps = np.arange(1, horizon + 1)
    # states row t holds the state after reading t: the forecast from origin o reads row o-1.
    state = states[origins - 1]
    forecast = state[:, [names.index("level")]] + state[:, [names.index("trend")]] * np.cumsum(
        phi**steps
    )
    if seasonal is not None:
        column = names.index("seasonal")
        lag = seasonal * ((steps - 1) // seasonal + 1)
        forecast = forecast + states[(origins - 1)[:, None] + steps - lag, column]
    name = f"ets(A,Ad,{'A' if seasonal else 'N'}{f', {seasonal}' if seasonal else ''})"
    return forecast, name


def _model(values: np.ndarray, seasonal: int | None) -> ETSModel:
    return ETSModel(
        pd.Series(values),
        error="add",
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=seasonal,
    )


def _fit(values: np.ndarray, seasonal: int | None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return seasonal, _model(values, seasonal).fit(disp=False)
