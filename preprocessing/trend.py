"""Trend models that can be removed from any stretch of a series and extrapolated past its end.

Every trend is a function of the step number k = (t - epoch) / step, with parameters that are
plain floats, so the fitted pipeline can transform data it never saw (a forecast's context, a
later batch) and continue the trend into the forecast steps, and can be stored as JSON.

- "none": T(k) = 0.
- "linear": least squares a + b k.
- "robust-linear": Theil-Sen slope and median intercept, so a stop or a spike at one end does
  not tilt the line. Fitted on at most `ROBUST_POINTS` evenly spaced points: Theil-Sen takes
  every pair (O(n^2)), and a few thousand points fix a straight line's slope to far better than
  the noise. "difference" has no T(k): the pipeline differences instead.
- "decomposition": the STL/MSTL trend, kept as knots every `knot_every` steps with linear
  interpolation between them (a smooth trend loses nothing at that spacing) and extrapolated
  beyond the ends along the first or last segment's slope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import theilslopes

TrendKind = Literal["none", "linear", "robust-linear", "decomposition", "difference"]
TREND_KINDS: tuple[TrendKind, ...] = (
    "none",
    "linear",
    "robust-linear",
    "decomposition",
    "difference",
)
ROBUST_POINTS = 1000


@dataclass(frozen=True)
class Trend:
    """A fitted trend; `knots` and `knot_every` are used by "decomposition" only."""

    kind: TrendKind
    intercept: float = 0.0
    slope: float = 0.0
    knots: tuple[float, ...] = ()
    knot_every: int = 0

    def __post_init__(self) -> None:
        if self.kind not in TREND_KINDS:
            raise ValueError(f"trend must be one of {', '.join(TREND_KINDS)}; got {self.kind!r}")
        if self.kind == "decomposition" and (len(self.knots) < 2 or self.knot_every < 1):
            raise ValueError("a decomposition trend needs at least two knots and knot_every >= 1")

    def at(self, k: np.ndarray) -> np.ndarray:
        """T(k) for step numbers k (any, including before the fit and after its end)."""
        k = np.asarray(k, dtype=float)
        if self.kind in ("linear", "robust-linear"):
            return self.intercept + self.slope * k
        if self.kind == "decomposition":
            return _piecewise_linear(np.asarray(self.knots), self.knot_every, k)
        return np.zeros_like(k)


def fit_trend(kind: TrendKind, k: np.ndarray, values: np.ndarray, knot_every: int = 24) -> Trend:
    """Fit `kind` to finite `values` at step numbers `k` ("decomposition" takes a smooth trend
    sampled at every k from 0, i.e. `values[i]` is the trend at k = i)."""
    finite = np.isfinite(values)
    k, values = np.asarray(k, dtype=float)[finite], np.asarray(values, dtype=float)[finite]
    if kind in ("none", "difference"):
        return Trend(kind)
    if len(values) < 2:
        raise ValueError(f"a {kind} trend needs at least two finite points, got {len(values)}")
    if kind == "linear":
        slope, intercept = np.polyfit(k, values, 1)
        return Trend(kind, float(intercept), float(slope))
    if kind == "robust-linear":
        pick = np.unique(np.linspace(0, len(k) - 1, min(len(k), ROBUST_POINTS)).astype(int))
        slope = float(theilslopes(values[pick], k[pick]).slope)
        return Trend(kind, float(np.median(values - slope * k)), slope)
    # "decomposition": values are the trend at k = 0 .. n-1, possibly with NaN where unknown.
    positions = np.arange(0, int(k[-1]) + 1, knot_every)
    knots = np.interp(positions, k, values)
    if positions[-1] != k[-1]:
        # The last stretch is shorter than knot_every; extend its knot to keep the end's level.
        last = knots[-1] + (values[-1] - knots[-1]) * knot_every / (k[-1] - positions[-1])
        knots = np.append(knots, last)
    return Trend(kind, knots=tuple(float(v) for v in knots), knot_every=knot_every)


def _piecewise_linear(knots: np.ndarray, every: int, k: np.ndarray) -> np.ndarray:
    position = k / every
    segment = np.clip(np.floor(position), 0, len(knots) - 2).astype(int)
    fraction = position - segment  # < 0 before the first knot, > 1 after the last: extrapolates
    return knots[segment] + fraction * (knots[segment + 1] - knots[segment])
