"""Training windows cut from one series, split in time order, scaled without look-ahead.

A `SeriesArrays` holds one regular, finite series: the target (N,), known-in-advance covariates
(N, K) and observed-only covariates (N, O), aligned row by row. A window starting at row s spans
`context + horizon` rows; the network reads the first `context` and is scored on the rest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from model.network import Anchor

# Most placeholder rows (inside a gap) a window may hold, in training and in a forecast's context.
MAX_PLACEHOLDER_SHARE = 0.25


@dataclass(frozen=True)
class SeriesArrays:
    """Target and covariates on one time axis; the constructor enforces shapes and finiteness."""

    target: np.ndarray
    known: np.ndarray
    observed: np.ndarray

    def __post_init__(self) -> None:
        rows = len(self.target)
        if self.target.ndim != 1:
            raise ValueError("target must be one-dimensional")
        for name in ("known", "observed"):
            array = getattr(self, name)
            if array.ndim != 2 or len(array) != rows:
                raise ValueError(f"{name} covariates must have shape ({rows}, n)")
        for name in ("target", "known", "observed"):
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"{name} holds NaN or infinite values")

    @staticmethod
    def of(
        target: np.ndarray, known: np.ndarray | None = None, observed: np.ndarray | None = None
    ) -> SeriesArrays:
        """Build from a target and optional covariates (None means none)."""
        target = np.asarray(target, dtype=np.float64)
        empty = np.zeros((len(target), 0))
        return SeriesArrays(
            target,
            empty
            if known is None
            else np.asarray(known, dtype=np.float64).reshape(len(target), -1),
            empty
            if observed is None
            else np.asarray(observed, dtype=np.float64).reshape(len(target), -1),
        )

    def __len__(self) -> int:
        return len(self.target)


@dataclass(frozen=True)
class Scaling:
    """Scales of the target and standardisation of covariates, fitted on training rows only.

    `target_scale` divides what the network reads; `change_scale` what it forecasts. They are
    one number for a level. For a differenced series the network reads increments but forecasts
    their running sums (changes of the level), which span many increments: scored in units of
    one increment, far steps would swamp the loss and a fresh head's band would be far too narrow.
    """

    target_scale: float
    known_mean: tuple[float, ...]
    known_std: tuple[float, ...]
    observed_mean: tuple[float, ...]
    observed_std: tuple[float, ...]
    change_scale: float | None = None

    @staticmethod
    def fit(series: SeriesArrays, anchor: Anchor = "last") -> Scaling:
        def std(a: np.ndarray) -> np.ndarray:
            # A constant column (a set-point that never moved) must not divide by zero.
            s = a.std(axis=0)
            return np.where(s > 1e-12, s, 1.0)

        def positive(value: float) -> float:
            return value if value > 1e-12 else 1.0

        level = series.target if anchor == "last" else np.cumsum(series.target)
        return Scaling(
            target_scale=positive(float(series.target.std())),
            known_mean=tuple(series.known.mean(axis=0).tolist()),
            known_std=tuple(std(series.known).tolist()),
            observed_mean=tuple(series.observed.mean(axis=0).tolist()),
            observed_std=tuple(std(series.observed).tolist()),
            change_scale=positive(float(level.std())),
        )

    @property
    def forecast_scale(self) -> float:
        """The unit of the network's forecasts (checkpoints from before it: the target's)."""
        return self.change_scale if self.change_scale is not None else self.target_scale

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Scaling:
        """The scaling `to_dict` wrote, its JSON lists back as tuples."""
        return Scaling(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def covariates(self, series: SeriesArrays) -> tuple[np.ndarray, np.ndarray]:
        known = (series.known - np.array(self.known_mean)) / np.array(self.known_std)
        observed = (series.observed - np.array(self.observed_mean)) / np.array(self.observed_std)
        return known, observed


@dataclass(frozen=True)
class Batch:
    """Network inputs and targets for a set of windows, in scaled units.

    ==========  ============  ===============================================
    target      (B, T)        context as the network reads it (see WindowMaker)
    known       (B, T+H, K)   known covariates over context and horizon
    observed    (B, T, O)     observed covariates over the context
    future      (B, T, H)     what the network forecasts at t for t+1..t+H
    level       (B,)          each window's reference value, in series units
    weight      (B, T, H)     1 where that future target rests on real readings
    series      (B,)          each window's series index, for a global model's embedding
    ==========  ============  ===============================================
    """

    target: Tensor
    known: Tensor
    observed: Tensor
    future: Tensor
    level: Tensor
    weight: Tensor
    series: Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        return Batch(
            *(
                getattr(self, f).to(device)
                for f in ("target", "known", "observed", "future", "level", "weight")
            ),
            series=None if self.series is None else self.series.to(device),
        )


class WindowSource(Protocol):
    """What training reads its batches from: a `WindowMaker`, or the windows of many series
    (`model.pooled.PooledWindows`, whose starts are (series, row) pairs)."""

    def batch(self, starts: np.ndarray) -> Batch:
        """Network inputs and targets of the windows at `starts`."""
        ...


class WindowMaker:
    """Cuts scaled windows out of a series; all arrays are converted to tensors once.

    How a window is read depends on the network's `anchor` (`model.network`):

    * "last" (a level): the target relative to the window's first value, a causal level that
      every step knows; the future targets are the levels at t+1..t+H on the same footing, so
      a network that adds its last input forecasts changes from the last value.
    * "zero" (a differenced series): the increments as they are, whose zero means "no change";
      the future target at t, step h, is the sum of the increments t+1..t+h, i.e. the change of
      the level: the error that matters after integrating, and zero for the naive forecast.
    """

    def __init__(
        self,
        series: SeriesArrays,
        scaling: Scaling,
        context: int,
        horizon: int,
        dtype: torch.dtype = torch.float32,
        valid: np.ndarray | None = None,
        anchor: Anchor = "last",
    ) -> None:
        """`valid` (N,) marks real readings; other rows are placeholders inside a gap, read as
        inputs but never scored (see `usable_starts`)."""
        known, observed = scaling.covariates(series)
        real = np.ones(len(series), dtype=bool) if valid is None else np.asarray(valid, bool)
        self.valid = torch.tensor(real, dtype=dtype)
        self.target = torch.tensor(series.target, dtype=dtype)
        self.known = torch.tensor(known, dtype=dtype)
        self.observed = torch.tensor(observed, dtype=dtype)
        self.scale = scaling.target_scale
        self.change_scale = scaling.forecast_scale
        self.context = context
        self.horizon = horizon
        self.anchor = anchor

    def starts(self, first_forecast: int, last_forecast: int) -> np.ndarray:
        """Window starts whose whole horizon lies in rows [first_forecast, last_forecast)."""
        lo = max(first_forecast - self.context, 0)
        hi = last_forecast - self.context - self.horizon + 1
        return np.arange(lo, max(hi, lo))

    def batch(self, starts: np.ndarray) -> Batch:
        """Windows with their targets; every row up to start + context + horizon must exist."""
        steps = self.context + self.horizon
        index = torch.as_tensor(starts)[:, None] + torch.arange(steps)  # (B, T+H)
        raw = self.target[index]
        level = self._level(raw)
        scaled = (raw - level) / self.scale
        real = self.valid[index][:, 1:].unfold(1, self.horizon, 1)[:, : self.context]  # (B,T,H)
        if self.anchor == "last":
            future = scaled[:, 1:].unfold(1, self.horizon, 1)[:, : self.context]  # (B, T, H)
            weight = real
        else:
            path = torch.cumsum(raw, dim=1) / self.change_scale  # (B, T+H): the level made
            ahead = path[:, 1:].unfold(1, self.horizon, 1)[:, : self.context]
            future = ahead - path[:, : self.context, None]
            # A change summed across a placeholder is not a real one.
            weight = torch.cumprod(real, dim=-1)
        return Batch(
            target=scaled[:, : self.context],
            known=self.known[index],
            observed=self.observed[index[:, : self.context]],
            future=future,
            level=level[:, 0],
            weight=weight,
        )

    def inputs(self, starts: np.ndarray) -> Batch:
        """Windows without targets, for forecasting: the target is read over the context only."""
        index = torch.as_tensor(starts)[:, None] + torch.arange(self.context)  # (B, T)
        raw = self.target[index]
        level = self._level(raw)
        known_index = torch.as_tensor(starts)[:, None] + torch.arange(self.context + self.horizon)
        return Batch(
            target=(raw - level) / self.scale,
            known=self.known[known_index],
            observed=self.observed[index],
            future=raw.new_zeros(len(starts), 0, self.horizon),
            level=level[:, 0],
            weight=raw.new_zeros(len(starts), 0, self.horizon),
        )

    def _level(self, raw: Tensor) -> Tensor:
        """(B, 1): what each window is taken relative to (its first value, or zero)."""
        return raw[:, :1] if self.anchor == "last" else torch.zeros_like(raw[:, :1])

    def usable_starts(self, starts: np.ndarray) -> np.ndarray:
        """The starts whose window holds at most `MAX_PLACEHOLDER_SHARE` placeholder rows.

        A production line stops for hours every few days, so demanding gap-free windows of a
        week would leave none; a window that is mostly placeholders teaches nothing real.
        """
        span = self.context + self.horizon
        missing = np.concatenate(([0.0], np.cumsum(1.0 - self.valid.double().numpy())))
        share = (missing[starts + span] - missing[starts]) / span
        return starts[share <= MAX_PLACEHOLDER_SHARE]
