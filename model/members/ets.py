"""The exponential-smoothing member: statsmodels' ETS, fitted once, run over each context.

ETS(A,N,N) (simple exponential smoothing) or ETS(A,Ad,N) (damped additive trend) on the
deseasonalised, scaled series: the seasonal profiles of the line's pipeline take the place of
ETS's own seasonal states, which would need many cycles of context to settle. statsmodels
estimates the smoothing parameters by maximum likelihood on the training rows; a forecast then
runs the same error-correction recursions over the origin's context (statsmodels has no batched
"forecast from many contexts"), starting from the context's first value:

    f = l + φ b;   e = x - f;   l ← f + α e;   b ← φ b + β e;   ŷ_h = l + b Σ_{i≤h} φ^i

A missing reading (a stop) updates nothing but the damping. On a 1-second noisy sensor this is
the model that beats repeating the last value: it averages the noise out of the level.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from model.members.base import (
    MemberForecast,
    Representation,
    SeriesInputs,
    to_original,
    transformed,
)
from preprocessing.pipeline import Pipeline

# Readings a context's start is estimated from (see `_initial_states`).
START_POINTS = 10
# The most recent training points the parameters are estimated on: the likelihood surface of
# three parameters is settled long before, and the fit time grows with the points.
MAX_FIT_POINTS = 20_000


@dataclass
class EtsMember:
    """Smoothing parameters α, β, φ (β = 0 and φ = 1 without a trend) on a representation."""

    representation: Representation
    pipeline: Pipeline
    context: int
    horizon: int
    alpha: float
    beta: float = 0.0
    phi: float = 1.0
    damped: bool = False
    kind: str = "ets"

    @property
    def name(self) -> str:
        variant = "damped" if self.damped else "level"
        return f"ets:{self.representation.name}/{variant}"

    @staticmethod
    def fit(
        representation: Representation,
        pipeline: Pipeline,
        inputs: SeriesInputs,
        rows: int,
        context: int,
        horizon: int,
        damped: bool,
    ) -> EtsMember:
        """Estimate the parameters on the first `rows` rows (gaps interpolated for the fit)."""
        z = pd.Series(transformed(pipeline, inputs)[:rows]).interpolate(limit_direction="both")
        z = z.iloc[-MAX_FIT_POINTS:].reset_index(drop=True)
        if z.isna().any() or len(z) < 10:
            raise ValueError("too few readings to fit exponential smoothing")
        model = ETSModel(z, error="add", trend="add" if damped else None, damped_trend=damped)
        with warnings.catch_warnings():
            # An optimum on a parameter bound is still the best fit inside the bounds.
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = model.fit(disp=False)
        return EtsMember(
            representation,
            pipeline,
            context,
            horizon,
            alpha=float(fitted.smoothing_level),
            beta=float(fitted.smoothing_trend) if damped else 0.0,
            phi=float(fitted.damping_trend) if damped else 1.0,
            damped=damped,
        )

    def predict(self, inputs: SeriesInputs, positions: np.ndarray) -> MemberForecast:
        positions = np.asarray(positions)
        z = transformed(self.pipeline, inputs)
        window = inputs.window(z, positions, self.context)  # (n, L)
        level, trend = _initial_states(window, self.damped)
        for column in window.T:
            expected = level + self.phi * trend
            error = np.where(np.isfinite(column), column - expected, 0.0)
            level = expected + self.alpha * error
            trend = self.phi * trend + self.beta * error
        damping = np.cumsum(self.phi ** np.arange(1, self.horizon + 1))  # (H,)
        forecast = level[:, None] + trend[:, None] * damping
        values = to_original(self.pipeline, inputs, positions, forecast[..., None])[..., 0]
        return MemberForecast(values)

    def to_document(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return {
            **self.representation.document(self.pipeline),
            "context": self.context,
            "horizon": self.horizon,
            "alpha": self.alpha,
            "beta": self.beta,
            "phi": self.phi,
            "damped": self.damped,
        }, {}

    @staticmethod
    def from_document(document: dict[str, Any]) -> EtsMember:
        fields = {k: document[k] for k in ("context", "horizon", "alpha", "beta", "phi", "damped")}
        return EtsMember(*Representation.read(document), **fields)


def _initial_states(window: np.ndarray, trend: bool) -> tuple[np.ndarray, np.ndarray]:
    """(n,), (n,): level and trend before each context's first value, from a straight line
    through its first `START_POINTS` readings (Hyndman et al.'s heuristic start; flat without a
    trend). Starting the trend at zero instead, a 48-step context is too short for a small β to
    build it up, and the damped model forecast no trend at all on a cooling pump."""
    head = window[:, :START_POINTS]
    finite = np.isfinite(head)
    count = finite.sum(axis=1)
    t = np.broadcast_to(np.arange(head.shape[1], dtype=float), head.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = np.where(finite, t, 0.0).sum(axis=1) / count
        x_mean = np.where(finite, head, 0.0).sum(axis=1) / count
        dt = np.where(finite, t - t_mean[:, None], 0.0)
        dx = np.where(finite, head - x_mean[:, None], 0.0)
        slope = (dt * dx).sum(axis=1) / (dt**2).sum(axis=1)
    slope = np.where(np.isfinite(slope) & trend, slope, 0.0)
    x_mean = np.where(count > 0, x_mean, 0.0)  # no reading: the pipeline's expectation, 0
    t_mean = np.where(count > 0, t_mean, 0.0)
    return x_mean - slope * (t_mean + 1.0), slope
