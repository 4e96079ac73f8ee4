"""A seeded simulator of one production line, for demos and tests on a machine with no data.

`simulate_line` returns a frame that guarantees:

- a UTC `DatetimeIndex` named "timestamp", sorted and unique, at the configured regular
  frequency (with `drop_stop_rows=True` the stop rows are removed, so it is regular only
  between stops);
- the target "throughput" in units/hour, NaN exactly at stops (planned: maintenance window,
  stopped shifts, stopped weekends; unplanned: random stops) and finite everywhere else;
- with `covariates=True`, the columns in `KNOWN_COVARIATES` (finite in every row: the plan is
  known for the future) and in `OBSERVED_COVARIATES` (NaN exactly where throughput is NaN,
  because a stopped line sends no data).

The clock (shifts, weekends, maintenance) is read in the plant's local time (`timezone`, UTC by
default), so a plant in Europe/Berlin starts its 06:00 shift an hour earlier in UTC after the
spring change to summer time; the stamps stay UTC.
The same config and seed give the identical frame; all randomness comes from `default_rng(seed)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

KNOWN_COVARIATES = ("shift", "planned_on", "setpoint")
OBSERVED_COVARIATES = ("motor_current", "bearing_temperature", "vibration", "energy")

_NS_PER_HOUR = 3_600 * 10**9
_NS_PER_DAY = 24 * _NS_PER_HOUR
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0).
_MAX_WEAR = 0.9  # Keeps throughput positive if maintenance is disabled on a long run.


@dataclass(frozen=True)
class Shift:
    """One shift of the daily plan: it runs from `start_hour` to the next shift's start."""

    start_hour: float
    productivity: float  # Multiplier of the base throughput; 0 means the line is planned off.


THREE_SHIFTS = (Shift(6.0, 1.0), Shift(14.0, 0.95), Shift(22.0, 0.85))
TWO_SHIFTS_NIGHT_STOP = (Shift(6.0, 1.0), Shift(14.0, 0.92), Shift(22.0, 0.0))


@dataclass(frozen=True)
class LineConfig:
    """What the simulated line looks like; every rate is per hour so `freq` changes only detail.

    Attributes:
        freq: pandas offset alias of the sampling step ("h", "min", "5min", ...); it must be a
            fixed step that divides a day, so every day has the same clock times.
        start: first timestamp; a naive value is read as UTC.
        days: length of the series in days.
        base_throughput: output of a fresh line in the most productive shift, units/hour.
        unit: unit of the target, stored in `frame.attrs["unit"]`.
        shifts: the daily shift plan, start hours strictly increasing in [0, 24).
        daily_amplitude: relative size of a smooth within-day cycle (ambient heat, fatigue),
            peaking at 15:00.
        weekend_factor: throughput multiplier on Saturday and Sunday; 0 stops the line.
        wear_per_day: relative throughput lost per 24 running hours since the last maintenance;
            the same wear raises current, temperature and vibration.
        noise_std: stationary standard deviation of the relative AR(1) noise.
        noise_corr_per_hour: autocorrelation of that noise at a lag of one hour.
        maintenance_weekday: day of the weekly maintenance window (Monday = 0).
        maintenance_start_hour: clock hour at which the window opens.
        maintenance_hours: length of the window; 0 disables it (and so the wear reset).
        random_stops_per_week: mean number of unplanned stops (Poisson).
        random_stop_mean_hours: mean length of an unplanned stop (exponential).
        outlier_rate: share of running rows whose throughput reading is a spike.
        covariates: add the known and observed covariate columns.
        drop_stop_rows: drop stop rows instead of keeping them as NaN.
        timezone: IANA zone of the plant's clock.
    """

    freq: str = "h"
    start: str | pd.Timestamp = "2026-01-05"
    days: int = 60
    base_throughput: float = 120.0
    unit: str = "units/h"
    shifts: tuple[Shift, ...] = THREE_SHIFTS
    daily_amplitude: float = 0.04
    weekend_factor: float = 0.7
    wear_per_day: float = 0.006
    noise_std: float = 0.03
    noise_corr_per_hour: float = 0.8
    maintenance_weekday: int = 2
    maintenance_start_hour: float = 6.0
    maintenance_hours: float = 4.0
    random_stops_per_week: float = 0.5
    random_stop_mean_hours: float = 3.0
    outlier_rate: float = 0.002
    covariates: bool = False
    drop_stop_rows: bool = False
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        step_of(self.freq)
        pd.Timestamp(self.start)
        starts = [shift.start_hour for shift in self.shifts]
        checks = {
            "days must be a positive integer": isinstance(self.days, int) and self.days > 0,
            "base_throughput must be > 0": self.base_throughput > 0,
            "shifts need strictly increasing start hours in [0, 24)": bool(starts)
            and all(0 <= h < 24 for h in starts)
            and all(a < b for a, b in pairwise(starts)),
            "shift productivity must be >= 0": all(s.productivity >= 0 for s in self.shifts),
            "weekend_factor must be >= 0": self.weekend_factor >= 0,
            "wear_per_day must be >= 0": self.wear_per_day >= 0,
            "noise_std must be >= 0": self.noise_std >= 0,
            "noise_corr_per_hour must be in [0, 1)": 0 <= self.noise_corr_per_hour < 1,
            "maintenance_weekday must be 0..6": self.maintenance_weekday in range(7),
            "maintenance_hours must be in [0, 168]": 0 <= self.maintenance_hours <= 168,
            "random_stops_per_week must be >= 0": self.random_stops_per_week >= 0,
            "random_stop_mean_hours must be > 0": self.random_stop_mean_hours > 0,
            "outlier_rate must be in [0, 1]": 0 <= self.outlier_rate <= 1,
        }
        try:
            pd.Timestamp("2026-01-01", tz=self.timezone)
            known_zone = True
        except (KeyError, ValueError):
            known_zone = False
        checks["timezone must be an IANA zone name"] = known_zone
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError("; ".join(failed))


def step_of(freq: str) -> pd.Timedelta:
    """The sampling step of `freq`; only fixed steps that divide a day keep the clock aligned."""
    try:
        offset = to_offset(freq)
    except ValueError:
        offset = None
    if not isinstance(offset, pd.offsets.Tick) or pd.Timedelta(days=1) % offset != pd.Timedelta(0):
        raise ValueError(
            f"unknown frequency {freq!r}: use a fixed step that divides a day, "
            "such as 'h', '15min' or 'min'"
        )
    return pd.Timedelta(offset)


def simulate_line(config: LineConfig, *, seed: int) -> pd.DataFrame:
    """Simulate the line described by `config`; see the module docstring for the guarantees."""
    index = _time_index(config)
    step_hours = step_of(config.freq) / pd.Timedelta(hours=1)
    hour, weekday = _clock(index, config.timezone)
    # Separate streams, so that e.g. changing the outlier rate leaves the noise and stops alone.
    noise_rng, stop_rng, outlier_rng, sensor_rng = np.random.default_rng(seed).spawn(4)

    shift = _shift_codes(config.shifts, hour)
    maintenance = _maintenance_window(config, hour, weekday)
    setpoint = _setpoint(config, shift, weekday) * ~maintenance
    planned_on = setpoint > 0
    running = planned_on & ~_random_stops(config, len(index), step_hours, stop_rng)
    wear = _wear(config.wear_per_day, running, maintenance, step_hours)

    phi = config.noise_corr_per_hour**step_hours
    innovations = noise_rng.normal(0.0, config.noise_std * np.sqrt(1 - phi**2), len(index))
    initial = noise_rng.normal(0.0, config.noise_std)
    noise = _ar1(innovations, phi, initial)
    daily = 1 + config.daily_amplitude * np.sin(2 * np.pi * (hour - 9) / 24)
    true_throughput = np.clip(setpoint * daily * (1 - wear) * (1 + noise), 0, None) * running
    measured = _with_outliers(true_throughput, running, config.outlier_rate, outlier_rng)

    frame = pd.DataFrame({"throughput": np.where(running, measured, np.nan)}, index=index)
    if config.covariates:
        frame["shift"] = shift
        frame["planned_on"] = planned_on.astype(np.int8)
        frame["setpoint"] = setpoint
        load = true_throughput / config.base_throughput
        sensors = _sensors(load, wear, hour, step_hours, sensor_rng)
        for name in OBSERVED_COVARIATES:
            frame[name] = np.where(running, sensors[name], np.nan)
    if config.drop_stop_rows:
        frame = frame.loc[running]
    frame.attrs["unit"] = config.unit
    return frame


def _time_index(config: LineConfig) -> pd.DatetimeIndex:
    start = pd.Timestamp(config.start)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    periods = config.days * (pd.Timedelta(days=1) // step_of(config.freq))
    return pd.date_range(start, periods=periods, freq=config.freq, name="timestamp")


def _clock(index: pd.DatetimeIndex, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of day (float) and weekday (Monday = 0), from integer nanoseconds of the
    local wall clock to stay exact."""
    local = index.tz_convert(timezone).tz_localize(None)
    ns = local.as_unit("ns").asi8
    hour = (ns % _NS_PER_DAY) / _NS_PER_HOUR
    weekday = (ns // _NS_PER_DAY + _EPOCH_WEEKDAY) % 7
    return hour, weekday


def _shift_codes(shifts: tuple[Shift, ...], hour: np.ndarray) -> np.ndarray:
    """Index of the shift running at each hour; before the first start, the last shift runs on."""
    starts = np.array([shift.start_hour for shift in shifts])
    return np.mod(np.searchsorted(starts, hour, side="right") - 1, len(shifts))


def _setpoint(config: LineConfig, shift: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Planned throughput: what the plan asks of a fresh line, 0 where the line is planned off."""
    productivity = np.array([s.productivity for s in config.shifts])[shift]
    weekly = np.where(weekday >= 5, config.weekend_factor, 1.0)
    return config.base_throughput * productivity * weekly


def _maintenance_window(config: LineConfig, hour: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Rows inside the weekly window; measured in hours of the week so it may cross midnight."""
    opens = config.maintenance_weekday * 24 + config.maintenance_start_hour
    return (weekday * 24 + hour - opens) % 168 < config.maintenance_hours


def _random_stops(
    config: LineConfig, n: int, step_hours: float, rng: np.random.Generator
) -> np.ndarray:
    """Unplanned stops: Poisson count, uniform starts, exponential lengths of at least one step."""
    count = rng.poisson(config.random_stops_per_week * config.days / 7)
    starts = rng.integers(0, n, count)
    hours = rng.exponential(config.random_stop_mean_hours, count)
    ends = np.minimum(starts + np.maximum(1, np.ceil(hours / step_hours)).astype(np.int64), n)
    edges = np.zeros(n + 1, dtype=np.int64)
    np.add.at(edges, starts, 1)
    np.add.at(edges, ends, -1)
    return np.cumsum(edges[:n]) > 0


def _wear(
    wear_per_day: float, running: np.ndarray, maintenance: np.ndarray, step_hours: float
) -> np.ndarray:
    """Relative wear: grows with running hours (not calendar hours), reset by each maintenance."""
    run_hours = np.cumsum(running) * step_hours
    positions = np.arange(len(running))
    last_reset = np.maximum.accumulate(np.where(maintenance, positions, -1))
    at_reset = np.where(last_reset >= 0, run_hours[np.maximum(last_reset, 0)], 0.0)
    return np.clip(wear_per_day * (run_hours - at_reset) / 24, 0, _MAX_WEAR)


def _ar1(inputs: np.ndarray, phi: float, initial: float = 0.0) -> np.ndarray:
    """x_t = phi * x_{t-1} + u_t with x_{-1} = `initial`, in closed form per block.

    Within a block x_j = phi^j (phi x_prev + sum_{s<=j} u_s phi^-s); the block is short enough
    that phi^-j stays below 1e8, so the cumulative sum keeps full precision.
    """
    n = len(inputs)
    if phi == 0 or n == 0:
        return inputs.astype(float).copy()
    block = int(max(1, min(n, np.floor(8 * np.log(10) / -np.log(phi)))))
    decay = phi ** np.arange(block)
    out = np.empty(n)
    previous = initial
    for begin in range(0, n, block):
        segment = inputs[begin : begin + block]
        m = len(segment)
        out[begin : begin + m] = decay[:m] * (phi * previous + np.cumsum(segment / decay[:m]))
        previous = out[begin + m - 1]
    return out


def _with_outliers(
    throughput: np.ndarray, running: np.ndarray, rate: float, rng: np.random.Generator
) -> np.ndarray:
    """Counter glitches: a running row becomes a spike 30-80 % above or below the true value.

    Draws are made for every row whatever the rate, so a higher rate only adds spikes.
    """
    n = len(throughput)
    hit = running & (rng.random(n) < rate)
    size = rng.uniform(0.3, 0.8, n) * rng.choice([-1.0, 1.0], n)
    return np.where(hit, throughput * (1 + size), throughput)


def _sensors(
    load: np.ndarray,
    wear: np.ndarray,
    hour: np.ndarray,
    step_hours: float,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Observed sensors from relative load (0 when stopped) and wear.

    Friction from wear raises current, heat and vibration even though it lowers output; the
    bearing warms towards its load with a 1.5 h time constant and cools while the line stands.
    """
    n = len(load)
    current = 6.0 + 22.0 * load + 80.0 * wear + rng.normal(0.0, 0.3, n)  # A
    power = 4.0 + 0.55 * current  # kW: idle consumption plus the drive.
    lag = np.exp(-step_hours / 1.5)
    heat = _ar1((1 - lag) * load, lag, initial=load[0])
    ambient = 24.0 + 2.0 * np.sin(2 * np.pi * (hour - 9) / 24)
    temperature = ambient + 28.0 * heat + 60.0 * wear + rng.normal(0.0, 0.2, n)  # °C
    vibration = 0.8 + 1.6 * load + 40.0 * wear + rng.normal(0.0, 0.12, n)  # mm/s
    return {
        "motor_current": current,
        "bearing_temperature": temperature,
        "vibration": np.clip(vibration, 0.05, None),
        "energy": power * step_hours,  # kWh used in the step that starts at the row.
    }
