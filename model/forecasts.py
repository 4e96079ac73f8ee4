"""What a line model answers: one forecast, or the forecasts of many origins.

Both hold quantiles as floats until the edge (the API's JSON, a CLI table): `values` has one
column per quantile of `quantiles`, and `median`, `lower` and `upper` name the ones callers use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LineForecast:
    """One forecast in original units: `values` (H, Q) for `quantiles` at `stamps` (UTC).

    `origin` is the last reading read, `filled_context` the context steps that had no reading
    (read as the pipeline's expectation), `model` the member that forecast it.
    """

    stamps: pd.DatetimeIndex
    quantiles: tuple[float, ...]
    values: np.ndarray
    origin: pd.Timestamp
    filled_context: int
    model: str

    @property
    def median(self) -> np.ndarray:
        return self.values[:, self.quantiles.index(0.5)]

    @property
    def lower(self) -> np.ndarray:
        return self.values[:, 0]

    @property
    def upper(self) -> np.ndarray:
        return self.values[:, -1]

    def quantile(self, q: float) -> np.ndarray:
        return self.values[:, self.quantiles.index(q)]


@dataclass(frozen=True)
class ManyForecasts:
    """Forecasts from many origins: `values` (n, H, Q), NaN where `usable` is False (no reading
    at the origin, too short or too gappy a context, or a missing plan)."""

    origins: pd.DatetimeIndex
    step: pd.Timedelta
    quantiles: tuple[float, ...]
    values: np.ndarray
    usable: np.ndarray

    @property
    def median(self) -> np.ndarray:
        return self.values[..., self.quantiles.index(0.5)]

    def stamps(self, index: int) -> pd.DatetimeIndex:
        horizon = self.values.shape[1]
        return pd.DatetimeIndex(self.origins[index] + self.step * np.arange(1, horizon + 1))

    def scored(self, actual: pd.Series) -> pd.DataFrame:
        """One row per usable forecast step with a reading in `actual` (indexed by UTC stamp):
        origin, step, ts, median, lower, upper, actual."""
        horizon = self.values.shape[1]
        kept = np.flatnonzero(self.usable)
        steps = np.arange(1, horizon + 1)
        origins = self.origins[kept]
        offsets = pd.to_timedelta(self.step * steps)  # (H,)
        naive = origins.tz_convert("UTC").tz_localize(None).to_numpy()
        stamps = pd.DatetimeIndex((naive[:, None] + offsets.to_numpy()[None, :]).ravel())
        frame = pd.DataFrame(
            {
                "origin": np.repeat(origins, horizon),
                "step": np.tile(steps, len(kept)),
                "ts": stamps.tz_localize("UTC"),
                "median": self.median[kept].ravel(),
                "lower": self.values[kept, :, 0].ravel(),
                "upper": self.values[kept, :, -1].ravel(),
            }
        )
        frame["actual"] = actual.reindex(stamps.tz_localize("UTC")).to_numpy(float)
        return frame.loc[np.isfinite(frame["actual"].to_numpy())].reset_index(drop=True)
