"""Known-in-advance calendar features computed in the plant's local time, for UTC series.

What `calendar_features` returns is guaranteed to be:

- a DataFrame on exactly the index it was given (same stamps, order and `freq`; no rows added,
  dropped or merged), with float64 columns in the order `feature_names` gives;
- finite everywhere: every column is a pure function of the stamp, so it exists for any past
  or future stamp and the model can read it for the history and for the forecast steps alike;
- computed from the local wall clock of `CalendarConfig.timezone`, never from the UTC clock.

Why local time: series are resampled in UTC so that daylight-saving changes create neither
duplicate nor missing stamps, but lines start shifts at 06:00 by the plant's clock and stop at
the local weekend. In UTC that pattern moves by one hour twice a year; in local time it does
not, so features read in local time carry it across the change unchanged.

Around a change the features follow the wall clock exactly: when clocks go forward, the skipped
local hour simply never appears (a shift due to start inside it starts when the clock lands
after it); when they go back, two consecutive UTC stamps read the same local hour and get the
same time-of-day values, as they did on the shop floor.

Columns, in order:

- `daily`: `hour_sin`, `hour_cos` of the local time of day (fractional hours, period 24 h);
- `weekly`: `week_sin`, `week_cos` of the local time in the week (Monday 00:00 is 0, period
  7 days), and `weekend`, 1.0 on local Saturday and Sunday;
- `shift_starts`: one-hot `shift_0` ... `shift_<S-1>`, shift k running from start k to start
  k + 1; the last runs past midnight to the first start.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from numbers import Real
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

_NS_PER_HOUR = 3_600 * 10**9
_DAY_NS = 24 * _NS_PER_HOUR
_WEEK_NS = 7 * _DAY_NS
# 1970-01-05 was a Monday: the week's phase is measured from a Monday midnight.
_MONDAY_NS = pd.Timestamp("1970-01-05").value
_SATURDAY_NS = 5 * _DAY_NS


@dataclass(frozen=True)
class CalendarConfig:
    """Which calendar features to compute, and in which local time.

    `timezone`: the plant's IANA zone name ("Europe/Berlin"); "UTC" for a plant that keeps
    UTC, or to switch the local-time reading off.
    `shift_starts`: local hours at which shifts start, e.g. (6, 14, 22); fractions are minutes
    (5.5 is 05:30). Strictly increasing, so that `shift_k` means the same shift in every model
    that records this config. Empty for no shift columns; a single start is refused because it
    would make one shift last all day, a constant column that carries no information.
    `daily`, `weekly`: add the time-of-day and time-of-week columns.
    """

    timezone: str = "UTC"
    shift_starts: tuple[float, ...] = ()
    weekly: bool = True
    daily: bool = True

    def __post_init__(self) -> None:
        _check_timezone(self.timezone)
        for name in ("weekly", "daily"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, not {getattr(self, name)!r}")
        starts = _checked_shift_starts(self.shift_starts)
        # Stored as a tuple of floats, so a list (as JSON gives it) still hashes and compares.
        object.__setattr__(self, "shift_starts", starts)
        if not (self.daily or self.weekly or starts):
            raise ValueError("config enables no feature: set daily, weekly or shift_starts")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CalendarConfig:
        """The config `to_json` wrote; unknown keys are an error, not silently dropped."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"calendar config JSON must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - {field.name for field in fields(cls)})
        if unknown:
            raise ValueError(f"unknown calendar config keys: {unknown}")
        return cls(**data)


def feature_names(config: CalendarConfig) -> list[str]:
    """The columns `calendar_features` returns for `config`, in order, for a model to record."""
    names = []
    if config.daily:
        names += ["hour_sin", "hour_cos"]
    if config.weekly:
        names += ["week_sin", "week_cos", "weekend"]
    names += [f"shift_{k}" for k in range(len(config.shift_starts))]
    return names


def calendar_features(index: pd.DatetimeIndex, config: CalendarConfig) -> pd.DataFrame:
    """Calendar features of each stamp, read on the local clock of `config.timezone`."""
    local_ns = _local_wall_clock_ns(index, config.timezone)
    day_ns = local_ns % _DAY_NS
    week_ns = (local_ns - _MONDAY_NS) % _WEEK_NS
    columns: dict[str, np.ndarray] = {}
    if config.daily:
        angle = 2 * np.pi * (day_ns / _DAY_NS)
        columns["hour_sin"], columns["hour_cos"] = np.sin(angle), np.cos(angle)
    if config.weekly:
        angle = 2 * np.pi * (week_ns / _WEEK_NS)
        columns["week_sin"], columns["week_cos"] = np.sin(angle), np.cos(angle)
        columns["weekend"] = (week_ns >= _SATURDAY_NS).astype(float)
    if config.shift_starts:
        # Integer nanoseconds, so a stamp exactly at a start belongs to the new shift.
        starts_ns = np.array([round(hour * _NS_PER_HOUR) for hour in config.shift_starts])
        count = len(starts_ns)
        # Before the first start is index -1: the last shift, carried over from the night.
        shift = (np.searchsorted(starts_ns, day_ns, side="right") - 1) % count
        for k in range(count):
            columns[f"shift_{k}"] = (shift == k).astype(float)
    return pd.DataFrame(columns, index=index, columns=feature_names(config), dtype=float)


def _check_timezone(name: str) -> None:
    """Refuse anything zoneinfo cannot load, naming it, before a model records it."""
    if not isinstance(name, str):
        raise ValueError(f"timezone must be an IANA name such as 'Europe/Berlin', not {name!r}")
    try:
        ZoneInfo(name)
    except (KeyError, ValueError) as error:
        raise ValueError(
            f"unknown timezone {name!r}; use an IANA name such as 'Europe/Berlin'"
        ) from error


def _checked_shift_starts(starts: tuple[float, ...]) -> tuple[float, ...]:
    """The starts as floats, or ValueError naming the one that is out of range or out of order."""
    if isinstance(starts, str | bytes) or not hasattr(starts, "__iter__"):
        raise ValueError(f"shift_starts must be a sequence of hours, not {starts!r}")
    checked = tuple(starts)
    for hour in checked:
        if not isinstance(hour, Real) or isinstance(hour, bool) or not math.isfinite(hour):
            raise ValueError(f"shift start must be a finite number of hours, not {hour!r}")
        if not 0 <= hour < 24:
            raise ValueError(f"shift start must be in [0, 24) local hours, not {hour!r}")
    if len(checked) != len(set(checked)):
        raise ValueError(f"shift_starts has duplicates: {checked}")
    if list(checked) != sorted(checked):
        raise ValueError(f"shift_starts must be in increasing order, got {checked}")
    if len(checked) == 1:
        raise ValueError(
            f"one shift start {checked} makes a constant shift_0 column; give none or two or more"
        )
    return tuple(float(hour) for hour in checked)


def _local_wall_clock_ns(index: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """Nanoseconds since 1970-01-01 00:00 on the local wall clock, one per stamp."""
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(f"calendar features need a DatetimeIndex, got {type(index).__name__}")
    if index.tz is None:
        raise ValueError(
            "index is naive; it should be UTC (tz-aware), e.g. index.tz_localize('UTC')"
        )
    if index.hasnans:
        raise ValueError("index has missing timestamps (NaT)")
    # Dropping the zone after converting keeps the local wall-clock reading of each instant.
    return index.tz_convert(ZoneInfo(timezone)).tz_localize(None).as_unit("ns").asi8
