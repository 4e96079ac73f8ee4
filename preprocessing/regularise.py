"""Put dirty production-line readings onto a regular UTC time axis, counting every repair.

What `regularise` returns is guaranteed to be:

- a float Series on a UTC DatetimeIndex whose `freq` is set (one fixed step, no holes);
- sorted and unique (duplicate stamps merged by a documented rule);
- spanning the first to the last stamp that carries a finite value;
- finite everywhere except inside gaps longer than `max_fill` steps, which stay NaN: a long
  stretch of invented readings would look like data to every later stage, so we refuse to make one.

Naive stamps are read as UTC; aware ones are converted to UTC, so a daylight-saving change
(local clock hours repeated or skipped) creates neither duplicates nor holes.

Snapping: stamps between grid points go to the *nearest* grid point, not the floor. Line clocks
jitter both ways around the intended instant; flooring would push a reading taken one second
early into the previous slot, making a false duplicate there and a false hole in its own slot.
The grid's phase is the most common offset of the stamps within a step, so data logged at
":30 past" keeps that phase rather than being shifted by half a step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

_DAY = pd.Timedelta(days=1)
_WEEK = pd.Timedelta(weeks=1)


@dataclass(frozen=True)
class RegulariseConfig:
    """How to regularise.

    `freq`: a fixed offset alias ("h", "5min"); None infers it from the stamps.
    `duplicates`: readings landing on one grid point (repeated stamps, or stamps snapped
    together) are merged: "mean" of their finite values, or the "first"/"last" finite value in
    time order (input order among identical stamps). Non-finite duplicates never overwrite a
    finite reading; a point whose readings are all non-finite is missing.
    `max_fill`: gaps of at most this many missing steps are filled by time interpolation.
    """

    freq: str | None = None
    duplicates: Literal["mean", "last", "first"] = "mean"
    max_fill: int = 3

    def __post_init__(self) -> None:
        if self.duplicates not in ("mean", "last", "first"):
            raise ValueError(
                f"duplicates must be 'mean', 'last' or 'first', not {self.duplicates!r}"
            )
        if self.max_fill < 0:
            raise ValueError(f"max_fill must be >= 0, not {self.max_fill}")


@dataclass(frozen=True)
class RegulariseCounts:
    """What `regularise` repaired, so a caller can report it and refuse data that is mostly made up.

    `duplicates` counts rows merged into another row on the same grid point; `missing_steps`
    counts grid points without a finite reading before filling; `gaps` counts runs of them.
    """

    input_rows: int
    duplicates: int
    non_finite: int
    snapped: int
    missing_steps: int
    filled_points: int
    gaps: int
    long_gaps: int
    long_gap_points: int
    imputed_share: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The most common positive spacing between sorted, distinct stamps.

    The mode, not the median or minimum, so gaps, repeated stamps and a few irregular stamps
    do not move it; ties go to the finer step, which loses no readings.
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(f"infer_step needs a DatetimeIndex, got {type(index).__name__}")
    stamps = index.as_unit("ns").unique().sort_values()
    if len(stamps) < 3:
        raise ValueError(f"need at least 3 distinct stamps to infer a step, got {len(stamps)}")
    diffs = np.diff(stamps.asi8)
    values, counts = np.unique(diffs[diffs > 0], return_counts=True)
    return pd.Timedelta(int(values[counts == counts.max()].min()), unit="ns")


def freq_alias(step: pd.Timedelta) -> str:
    """The pandas offset alias for a fixed step: 1 hour -> "h", 5 minutes -> "5min"."""
    if step <= pd.Timedelta(0):
        raise ValueError(f"step must be positive, got {step}")
    return to_offset(step).freqstr


def periods_for(step: pd.Timedelta) -> dict[str, int]:
    """Seasonal candidate periods, in steps: "day" and "week" where they divide evenly.

    A period shorter than 2 steps or not a whole number of steps cannot be a seasonal lag.
    """
    if step <= pd.Timedelta(0):
        raise ValueError(f"step must be positive, got {step}")
    periods = {}
    for name, span in (("day", _DAY), ("week", _WEEK)):
        steps, rest = divmod(span.value, step.value)
        if rest == 0 and steps >= 2:
            periods[name] = int(steps)
    return periods


def regularise(
    series: pd.Series | pd.DataFrame, config: RegulariseConfig | None = None
) -> tuple[pd.Series, RegulariseCounts]:
    """Sort, convert to UTC, merge duplicates, snap to a regular grid and fill short gaps."""
    config = config or RegulariseConfig()
    values = _checked_series(series)
    input_rows = len(values)
    non_finite = int((~np.isfinite(values.to_numpy())).sum())
    values = values.where(np.isfinite(values))
    # Stable sort: among identical stamps, "first"/"last" then mean input order.
    values = values.sort_index(kind="stable")
    step = _fixed_step(config.freq) if config.freq else infer_step(values.index)
    snapped_index = _snap(values.index, step)
    snapped = int((snapped_index != values.index).sum())
    merged = _merge(values.set_axis(snapped_index), config.duplicates)
    finite = merged.dropna()
    if finite.empty:
        raise ValueError("series has no finite values")
    grid = pd.date_range(finite.index[0], finite.index[-1], freq=freq_alias(step), unit="ns")
    on_grid = merged.reindex(grid)
    result, runs = _fill_short_gaps(on_grid, config.max_fill)
    long_runs = [length for length in runs if length > config.max_fill]
    filled = sum(length for length in runs if length <= config.max_fill)
    counts = RegulariseCounts(
        input_rows=input_rows,
        duplicates=input_rows - len(merged),
        non_finite=non_finite,
        snapped=snapped,
        missing_steps=sum(runs),
        filled_points=filled,
        gaps=len(runs),
        long_gaps=len(long_runs),
        long_gap_points=sum(long_runs),
        imputed_share=filled / len(result),
    )
    return result, counts


def _checked_series(series: pd.Series | pd.DataFrame) -> pd.Series:
    """A float copy on a UTC, nanosecond DatetimeIndex, or ValueError naming what is wrong."""
    if isinstance(series, pd.DataFrame):
        if series.shape[1] != 1:
            raise ValueError(f"expected one column, got {list(series.columns)}; select one first")
        series = series.iloc[:, 0]
    if not isinstance(series, pd.Series):
        raise ValueError(f"expected a pandas Series, got {type(series).__name__}")
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ValueError(f"series needs a DatetimeIndex, got {type(series.index).__name__}")
    if series.empty:
        raise ValueError("series is empty")
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise ValueError(f"series values must be numeric, got dtype {series.dtype}")
    if series.index.hasnans:
        raise ValueError("series index has missing timestamps (NaT)")
    index = series.index
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return pd.Series(series.to_numpy(dtype=float), index=index.as_unit("ns"), name=series.name)


def _fixed_step(freq: str) -> pd.Timedelta:
    """The step of a fixed-length alias; calendar ones ("MS") have no single grid spacing."""
    try:
        step = pd.Timedelta(to_offset(freq))
    except ValueError as error:
        raise ValueError(
            f"freq must be a fixed step such as 'h' or '5min', got {freq!r}"
        ) from error
    if step <= pd.Timedelta(0):
        raise ValueError(f"freq must be a positive fixed step, got {freq!r}")
    return step


def _snap(index: pd.DatetimeIndex, step: pd.Timedelta) -> pd.DatetimeIndex:
    """Move each stamp to the nearest grid point; the grid's phase is the stamps' commonest one."""
    stamps = index.asi8
    phases, counts = np.unique(stamps % step.value, return_counts=True)
    phase = int(phases[counts.argmax()])
    # Half a step rounds up, so a tie never depends on the sign of the offset.
    snapped = (stamps - phase + step.value // 2) // step.value * step.value + phase
    return pd.DatetimeIndex(snapped.astype("datetime64[ns]")).tz_localize("UTC")


def _merge(values: pd.Series, rule: Literal["mean", "last", "first"]) -> pd.Series:
    """One value per stamp; pandas' groupby skips NaN, so a finite reading always wins."""
    grouped = values.groupby(level=0, sort=True)
    return getattr(grouped, rule)()


def _fill_short_gaps(on_grid: pd.Series, max_fill: int) -> tuple[pd.Series, list[int]]:
    """Interpolate runs of at most `max_fill` NaNs in time; return the lengths of all runs."""
    missing = on_grid.isna().to_numpy()
    # Run boundaries: +1 where a run starts, -1 just after it ends (ends are finite by design).
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    runs = (ends - starts).tolist()
    interpolated = on_grid.interpolate(method="time", limit_area="inside")
    keep_nan = np.zeros(len(on_grid), dtype=bool)
    for start, end in zip(starts, ends, strict=True):
        if end - start > max_fill:
            keep_nan[start:end] = True
    return interpolated.mask(keep_nan).astype(float), runs
