import json

import numpy as np
import pandas as pd
import pytest

from preprocessing.regularise import (
    RegulariseConfig,
    freq_alias,
    infer_step,
    periods_for,
    regularise,
)
from tests.shared_data import shared_data


def _hourly(values: list[float], start: str = "2026-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="h"))


def _assert_regular_utc(result: pd.Series) -> None:
    assert str(result.index.tz) == "UTC"
    assert result.index.freq is not None
    assert result.index.is_monotonic_increasing and result.index.is_unique
    assert result.dtype == np.float64


def test_unsorted_input_is_sorted() -> None:
    ordered = _hourly([1.0, 2.0, 3.0, 4.0, 5.0])
    rng = np.random.default_rng(0)
    shuffled = ordered.iloc[rng.permutation(len(ordered))]
    result, counts = regularise(shuffled)
    _assert_regular_utc(result)
    assert result.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert counts.duplicates == 0 and counts.missing_steps == 0


@pytest.mark.parametrize(("rule", "expected"), [("mean", 20.0), ("first", 10.0), ("last", 30.0)])
def test_duplicate_stamps_follow_the_rule(rule: str, expected: float) -> None:
    # Hour 1 arrives four times, out of order, once as NaN (which never wins).
    hours = [0, 1, 1, 2, 1, 1, 3]
    index = pd.Timestamp("2026-01-01") + pd.to_timedelta(hours, unit="h")
    series = pd.Series([1.0, 10.0, np.nan, 3.0, 20.0, 30.0, 4.0], index=index)
    result, counts = regularise(series, RegulariseConfig(duplicates=rule))
    assert result.tolist() == [1.0, expected, 3.0, 4.0]
    assert counts.duplicates == 3
    assert counts.non_finite == 1


def test_nan_and_inf_are_counted_and_short_gap_interpolated() -> None:
    series = _hourly([0.0, np.inf, np.nan, -np.inf, 8.0, 9.0])
    result, counts = regularise(series, RegulariseConfig(max_fill=3))
    assert result.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 9.0]
    assert counts.non_finite == 3
    assert counts.missing_steps == 3 and counts.filled_points == 3
    assert counts.gaps == 1 and counts.long_gaps == 0
    assert counts.imputed_share == pytest.approx(0.5)


def test_absent_stamps_are_filled_by_time_interpolation() -> None:
    series = _hourly([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).drop(
        pd.DatetimeIndex(["2026-01-01 02:00", "2026-01-01 03:00"])
    )
    result, counts = regularise(series, RegulariseConfig(freq="h", max_fill=2))
    assert result.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert counts.filled_points == 2 and counts.gaps == 1


def test_long_gap_is_kept_as_nan_and_counted() -> None:
    values = [1.0, 2.0] + [np.nan] * 5 + [3.0, np.nan, 5.0]
    series = _hourly(values).dropna()
    result, counts = regularise(series, RegulariseConfig(freq="h", max_fill=3))
    _assert_regular_utc(result)
    assert len(result) == 10
    assert result.iloc[2:7].isna().all()
    assert result.iloc[8] == 4.0
    assert counts.gaps == 2 and counts.long_gaps == 1 and counts.long_gap_points == 5
    assert counts.missing_steps == 6 and counts.filled_points == 1
    assert json.loads(counts.to_json())["long_gap_points"] == 5


@pytest.mark.parametrize(
    "utc_start", ["2026-10-24 22:00", "2026-03-28 22:00"], ids=["fall-back", "spring-forward"]
)
def test_berlin_stamps_across_dst_end_in_utc_without_holes(utc_start: str) -> None:
    utc = pd.date_range(utc_start, periods=48, freq="h", tz="UTC")
    local = utc.tz_convert("Europe/Berlin")
    # The local wall clock repeats or skips an hour here; the instants do not.
    assert local.hour.value_counts().nunique() > 1
    series = pd.Series(np.arange(48.0), index=local)
    result, counts = regularise(series)
    _assert_regular_utc(result)
    assert result.index.equals(utc.as_unit("ns"))
    assert result.tolist() == list(np.arange(48.0))
    assert counts.duplicates == 0 and counts.missing_steps == 0


def test_naive_stamps_are_read_as_utc() -> None:
    result, _ = regularise(_hourly([1.0, 2.0, 3.0], start="2026-06-01 12:00"))
    assert result.index[0] == pd.Timestamp("2026-06-01 12:00", tz="UTC")


def test_jittered_stamps_snap_to_the_nearest_grid_point() -> None:
    rng = np.random.default_rng(42)
    grid = pd.date_range("2026-01-01", periods=50, freq="5min")
    jitter = pd.to_timedelta(rng.integers(-60, 61, size=50), unit="s")
    # Every third stamp (first and last included) is on time, which pins the grid's phase.
    jitter = jitter.where(np.arange(50) % 3 != 0, pd.Timedelta(0))
    series = pd.Series(np.arange(50.0), index=grid + jitter)
    result, counts = regularise(series, RegulariseConfig(freq="5min"))
    assert result.index.equals(pd.date_range(grid[0], periods=50, freq="5min", tz="UTC"))
    assert result.tolist() == list(np.arange(50.0))
    assert counts.snapped == int((jitter != pd.Timedelta(0)).sum()) > 20
    assert counts.duplicates == 0


def test_stamps_snapped_together_follow_the_duplicate_rule() -> None:
    minutes = [0, 59, 61, 120, 180]
    index = pd.Timestamp("2026-01-01") + pd.to_timedelta(minutes, unit="min")
    series = pd.Series([0.0, 4.0, 6.0, 1.0, 1.0], index=index)
    result, counts = regularise(series, RegulariseConfig(freq="h"))
    assert result.tolist() == [0.0, 5.0, 1.0, 1.0]
    assert counts.snapped == 2 and counts.duplicates == 1


@pytest.mark.parametrize(("freq", "alias"), [("h", "h"), ("5min", "5min"), ("min", "min")])
def test_step_is_inferred_despite_gaps_and_stray_stamps(freq: str, alias: str) -> None:
    rng = np.random.default_rng(7)
    grid = pd.date_range("2026-01-01", periods=200, freq=freq)
    kept = grid.delete(rng.choice(np.arange(1, 199), size=15, replace=False))
    stray = grid[[10, 50]] + pd.Timedelta(grid.freq) / 3
    step = infer_step(kept.append(stray))
    assert step == pd.Timedelta(grid.freq)
    assert freq_alias(step) == alias


def test_infer_step_refuses_too_few_stamps() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        infer_step(pd.DatetimeIndex(["2026-01-01", "2026-01-01 01:00", "2026-01-01 01:00"]))


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("1h", {"day": 24, "week": 168}),
        ("5min", {"day": 288, "week": 2016}),
        ("1min", {"day": 1440, "week": 10080}),
        ("7h", {"week": 24}),
        ("1D", {"week": 7}),
        ("4D", {}),
    ],
)
def test_periods_for_sampling_interval(step: str, expected: dict[str, int]) -> None:
    assert periods_for(pd.Timedelta(step)) == expected


@pytest.mark.parametrize(
    ("series", "message"),
    [
        (pd.Series([1.0, 2.0, 3.0]), "DatetimeIndex"),
        (pd.Series([], index=pd.DatetimeIndex([]), dtype=float), "empty"),
        (pd.Series(["a", "b", "c"], index=pd.date_range("2026", periods=3, freq="h")), "numeric"),
        (_hourly([np.nan, np.inf, np.nan]), "no finite"),
        (pd.DataFrame({"a": [1.0], "b": [2.0]}, index=pd.date_range("2026", periods=1)), "one col"),
    ],
    ids=["no-datetime-index", "empty", "strings", "all-non-finite", "two-columns"],
)
def test_bad_input_is_refused_with_a_named_reason(series: pd.Series, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        regularise(series, RegulariseConfig(freq="h"))


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="max_fill"):
        RegulariseConfig(max_fill=-1)
    with pytest.raises(ValueError, match="duplicates"):
        RegulariseConfig(duplicates="median")  # type: ignore[arg-type]
    hourly = _hourly([1.0, 2.0, 3.0])
    for freq in ("MS", "0h"):
        with pytest.raises(ValueError, match="fixed step"):
            regularise(hourly, RegulariseConfig(freq=freq))


def test_nab_machine_temperature_regularises_to_five_minutes() -> None:
    path = shared_data("nab_machine_temperature.csv")
    frame = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")
    assert infer_step(frame.index) == pd.Timedelta("5min")
    result, counts = regularise(frame[["value"]])
    _assert_regular_utc(result)
    assert freq_alias(pd.Timedelta(result.index.freq)) == "5min"
    # The file has no missing steps; its one flaw is the hour 2014-01-07 02:00-02:55 logged
    # twice with different readings (the clock jumped back 55 minutes), merged by the mean.
    assert counts.input_rows == 22695
    assert counts.duplicates == 12 and counts.snapped == 0 and counts.non_finite == 0
    assert counts.gaps == 0 and counts.missing_steps == 0 and counts.long_gaps == 0
    assert len(result) == 22683 and np.isfinite(result).all()
    twice = frame.loc["2014-01-07 02:00", "value"]
    assert len(twice) == 2
    assert result[pd.Timestamp("2014-01-07 02:00", tz="UTC")] == pytest.approx(twice.mean())
