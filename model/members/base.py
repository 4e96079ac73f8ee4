"""What every member shares: the prepared series, the forecast it returns, its preprocessing.

Shapes: N grid rows, H horizon, Q quantiles, K known and O observed covariates, n origins.
An origin is the row of the last reading a forecast reads (`positions`); its forecast covers
rows p+1 .. p+H.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from model.network import Anchor
from preprocessing.pipeline import Pipeline
from preprocessing.trend import TREND_KINDS, TrendKind


@dataclass(frozen=True)
class SeriesInputs:
    """One series on its fitted grid, prepared once for every member.

    ========  =========  =====================================================
    values    (N,)       cleaned readings; NaN in a long gap (a stop)
    steps     (N,)       step numbers k = (t - epoch) / step of the grid stamps
    stamps    (N,)       the grid stamps, UTC
    known     (N+H, K)   known covariates, H rows past the last stamp
    observed  (N, O)     observed covariates
    ========  =========  =====================================================
    """

    values: np.ndarray
    steps: np.ndarray
    stamps: pd.DatetimeIndex
    known: np.ndarray
    observed: np.ndarray

    def __post_init__(self) -> None:
        rows = len(self.values)
        if len(self.steps) != rows or len(self.stamps) != rows or len(self.observed) != rows:
            raise ValueError("values, steps, stamps and observed need one row per grid stamp")
        if len(self.known) < rows:
            raise ValueError("known covariates need at least one row per grid stamp")

    def __len__(self) -> int:
        return len(self.values)

    def series(self) -> pd.Series:
        return pd.Series(self.values, index=self.stamps)

    def window(self, values: np.ndarray, positions: np.ndarray, length: int) -> np.ndarray:
        """(n, length): `values` at rows p-length+1 .. p for each origin p."""
        return values[np.asarray(positions)[:, None] + np.arange(1 - length, 1)]


@dataclass(frozen=True)
class MemberForecast:
    """Forecasts of n origins in original units: the median (n, H). Intervals come from
    `model.intervals`, the same way for every member."""

    median: np.ndarray


@dataclass(frozen=True)
class Representation:
    """Which fitted parts a member removes before it learns: the seasonal profiles or not, and
    a trend. The name is what the candidate table shows ("seasonal+difference")."""

    seasonal: bool
    trend: TrendKind

    def __post_init__(self) -> None:
        if self.trend not in TREND_KINDS:
            raise ValueError(f"trend must be one of {', '.join(TREND_KINDS)}")

    @property
    def name(self) -> str:
        trend = {"none": "level", "difference": "difference"}.get(self.trend, f"{self.trend}-trend")
        return f"seasonal+{trend}" if self.seasonal else trend

    @property
    def anchor(self) -> Anchor:
        """A differenced series forecasts changes from zero; anything else from the last level."""
        return "zero" if self.trend == "difference" else "last"

    def document(self, pipeline: Pipeline) -> dict[str, Any]:
        """This representation and its fitted pipeline, for a member's stored document."""
        return {
            "representation": {"seasonal": self.seasonal, "trend": self.trend},
            "pipeline": pipeline.to_json(with_report=False),
        }

    @staticmethod
    def read(document: dict[str, Any]) -> tuple[Representation, Pipeline]:
        """The representation and pipeline `document` stored."""
        return Representation(**document["representation"]), Pipeline.from_json(
            document["pipeline"]
        )

    def fit(self, pipeline: Pipeline, inputs: SeriesInputs, rows: int) -> Pipeline:
        """The line's pipeline with these parts, fitted on the first `rows` readings."""
        return pipeline.variant(
            inputs.series().iloc[:rows], seasonal=self.seasonal, trend=self.trend
        )


def transformed(pipeline: Pipeline, inputs: SeriesInputs) -> np.ndarray:
    """(N,) the readings through a member's pipeline (NaN where a reading or increment is
    missing)."""
    return pipeline.transform(inputs.series()).to_numpy(float)


def to_original(
    pipeline: Pipeline, inputs: SeriesInputs, positions: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """(n, H, Q) forecasts in a pipeline's units -> original units (see `to_original_many`)."""
    return pipeline.to_original_many(z, inputs.values[positions], inputs.steps[positions])


def placeholder_share(inputs: SeriesInputs, positions: np.ndarray, context: int) -> np.ndarray:
    """(n,) share of each origin's context rows that hold no reading."""
    missing = np.concatenate(([0.0], np.cumsum(~np.isfinite(inputs.values))))
    positions = np.asarray(positions)
    return (missing[positions + 1] - missing[positions + 1 - context]) / context


def local_scale(
    inputs: SeriesInputs, positions: np.ndarray, context: int, lag: int = 1
) -> np.ndarray:
    """(n,) the root mean square of the one-step changes in each origin's context: how much
    the series moves there, the unit its forecast errors are calibrated in."""
    window = inputs.window(inputs.values, positions, context)
    lag = max(1, min(lag, context // 2))
    changes = window[:, lag:] - window[:, :-lag]
    squared = np.where(np.isfinite(changes), changes**2, np.nan)
    with np.errstate(invalid="ignore"):
        scale = np.sqrt(np.nanmean(squared, axis=1))
    fallback = np.nanmedian(scale) if np.isfinite(scale).any() else 1.0
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, fallback)
    return np.where(scale > 0, scale, 1.0)


class Member(Protocol):
    """A fitted candidate: forecasts origins, and describes itself for storage."""

    name: str
    kind: str
    context: int

    def predict(self, inputs: SeriesInputs, positions: np.ndarray) -> MemberForecast:
        """Forecasts from origins `positions` (each at least `context - 1`, with H rows of
        known covariates after it)."""
        ...

    def to_document(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """JSON-able description and tensors, for `member_from_document`."""
        ...
