import argparse
import io

import numpy as np
import pandas as pd
import pytest

from app import cli
from app.cli import simulate as simulate_cli
from app.errors import UsageError
from app.simulator import (
    KNOWN_COVARIATES,
    OBSERVED_COVARIATES,
    TWO_SHIFTS_NIGHT_STOP,
    LineConfig,
    Shift,
    simulate_line,
)

# A line whose only systematic movement is wear, so its drift can be read off a straight line.
FLAT_LINE = LineConfig(
    days=42,
    shifts=(Shift(0.0, 1.0),),
    daily_amplitude=0.0,
    weekend_factor=1.0,
    wear_per_day=0.02,
    random_stops_per_week=0.0,
    outlier_rate=0.0,
    covariates=True,
)


def _maintenance_rows(index: pd.DatetimeIndex, config: LineConfig) -> np.ndarray:
    """The weekly window, computed independently of the simulator (it does not cross midnight)."""
    hour = index.hour + index.minute / 60
    opens = config.maintenance_start_hour
    in_window = (hour >= opens) & (hour < opens + config.maintenance_hours)
    return np.asarray((index.day_of_week == config.maintenance_weekday) & in_window)


def _slope(series: pd.Series) -> float:
    hours = (series.index - series.index[0]) / pd.Timedelta(hours=1)
    return np.polyfit(hours, series.to_numpy(), 1)[0]


def test_same_seed_gives_identical_frame():
    config = LineConfig(covariates=True)
    pd.testing.assert_frame_equal(simulate_line(config, seed=7), simulate_line(config, seed=7))


def test_different_seeds_differ():
    config = LineConfig(covariates=True)
    first, second = simulate_line(config, seed=1), simulate_line(config, seed=2)
    assert not first.equals(second)
    assert not np.allclose(first["throughput"].fillna(0), second["throughput"].fillna(0))


@pytest.mark.parametrize(("freq", "step"), [("h", "1h"), ("15min", "15min"), ("min", "1min")])
def test_index_is_regular_utc_sorted_and_unique(freq, step):
    frame = simulate_line(LineConfig(freq=freq, days=3, start="2026-03-02 00:00"), seed=0)
    index = frame.index
    assert isinstance(index, pd.DatetimeIndex)
    assert index.name == "timestamp"
    assert str(index.tz) == "UTC"
    assert index.is_monotonic_increasing and index.is_unique
    assert (index[1:] - index[:-1] == pd.Timedelta(step)).all()
    assert index[0] == pd.Timestamp("2026-03-02", tz="UTC")
    assert frame.attrs["unit"] == "units/h"


def test_aware_start_is_converted_to_utc():
    frame = simulate_line(LineConfig(start="2026-01-05 01:00+01:00", days=1), seed=0)
    assert frame.index[0] == pd.Timestamp("2026-01-05 00:00", tz="UTC")


def test_minute_frequency_gives_1440_rows_per_day():
    frame = simulate_line(LineConfig(freq="min", days=3), seed=0)
    assert len(frame) == 3 * 1440
    assert (frame.groupby(frame.index.date).size() == 1440).all()


def test_without_random_stops_nan_is_exactly_the_planned_stops():
    config = LineConfig(days=28, random_stops_per_week=0.0, covariates=True)
    frame = simulate_line(config, seed=3)
    missing = frame["throughput"].isna().to_numpy()
    maintenance = _maintenance_rows(frame.index, config)
    assert maintenance.sum() == 4 * 4  # Four weekly windows of four hours.
    np.testing.assert_array_equal(missing, frame["planned_on"].to_numpy() == 0)
    assert missing[maintenance].all()
    assert np.isfinite(frame["throughput"].to_numpy()[~missing]).all()


def test_random_stops_are_the_only_other_gaps():
    config = LineConfig(days=56, random_stops_per_week=2.0, covariates=True)
    frame = simulate_line(config, seed=4)
    missing = frame["throughput"].isna()
    unplanned = missing & (frame["planned_on"] == 1)
    assert (missing[frame["planned_on"] == 0]).all()
    assert unplanned.any()
    # Count runs of unplanned NaN; overlapping or adjacent stops merge, so allow a wide band.
    runs = int((unplanned & ~unplanned.shift(fill_value=False)).sum())
    assert 4 <= runs <= 30
    assert not frame[list(KNOWN_COVARIATES)].isna().any().any()
    for name in OBSERVED_COVARIATES:
        pd.testing.assert_series_equal(frame[name].isna(), missing, check_names=False)


def test_night_stop_and_stopped_weekend_leave_no_data():
    config = LineConfig(shifts=TWO_SHIFTS_NIGHT_STOP, weekend_factor=0.0, days=14)
    frame = simulate_line(config, seed=5)
    hour, weekday = frame.index.hour, frame.index.day_of_week
    assert frame["throughput"][(hour >= 22) | (hour < 6)].isna().all()
    assert frame["throughput"][weekday >= 5].isna().all()
    assert frame["throughput"][(hour == 12) & (weekday == 0)].notna().all()


def test_daily_seasonality_is_present():
    frame = simulate_line(LineConfig(days=60), seed=6)
    throughput = frame["throughput"]
    by_hour = throughput.groupby(frame.index.hour).mean()
    assert by_hour.std() / throughput.mean() > 0.05
    assert by_hour.loc[10] > by_hour.loc[2]  # The early shift outproduces the night shift.
    assert throughput.autocorr(24) > throughput.autocorr(12)
    # Without the weekend step, one day explains most of the next.
    flat_week = simulate_line(LineConfig(days=60, weekend_factor=1.0), seed=6)["throughput"]
    assert flat_week.autocorr(24) > 0.7


def test_weekly_seasonality_is_present():
    frame = simulate_line(LineConfig(days=84, weekend_factor=0.7), seed=8)
    throughput = frame["throughput"]
    weekend = frame.index.day_of_week >= 5
    ratio = throughput[weekend].mean() / throughput[~weekend].mean()
    assert 0.6 < ratio < 0.8
    assert throughput.autocorr(168) > 0.8


def test_wear_lowers_throughput_and_raises_current_between_maintenances():
    frame = simulate_line(FLAT_LINE, seed=9)
    running = frame.dropna(subset=["throughput"])
    segment = frame["throughput"].isna().cumsum().loc[running.index]
    segments = [rows for _, rows in running.groupby(segment) if len(rows) >= 48]
    assert len(segments) >= 5
    for rows in segments:
        assert _slope(rows["throughput"]) < 0
        assert _slope(rows["motor_current"]) > 0
        assert _slope(rows["bearing_temperature"]) > 0


def test_outlier_rate_is_roughly_as_configured():
    config = LineConfig(days=365, outlier_rate=0.02)
    spiky = simulate_line(config, seed=10)["throughput"]
    clean = simulate_line(LineConfig(days=365, outlier_rate=0.0), seed=10)["throughput"]
    running = clean.notna()
    changed = running & ~np.isclose(spiky, clean)
    expected = config.outlier_rate * running.sum()
    assert 0.7 * expected < changed.sum() < 1.3 * expected
    ratio = (spiky / clean)[changed]
    assert ((ratio - 1).abs() >= 0.3 - 1e-9).all()
    pd.testing.assert_series_equal(spiky[~changed], clean[~changed])


def test_covariates_have_the_physical_sign():
    frame = simulate_line(LineConfig(days=60, covariates=True), seed=11)
    assert list(frame.columns) == ["throughput", *KNOWN_COVARIATES, *OBSERVED_COVARIATES]
    running = frame.dropna()
    load = running["throughput"]
    assert running["motor_current"].corr(load) > 0.5
    assert running["energy"].corr(running["motor_current"]) > 0.9
    assert running["vibration"].corr(load) > 0
    assert (running["energy"] > 0).all()
    assert set(frame["shift"].unique()) == {0, 1, 2}
    assert frame["setpoint"].corr(frame["throughput"]) > 0.8
    # The bearing follows load with a lag: yesterday's load explains it better than tomorrow's.
    temperature = frame["bearing_temperature"]
    assert temperature.corr(frame["throughput"].shift(1)) > temperature.corr(
        frame["throughput"].shift(-1)
    )


def test_drop_stop_rows_removes_exactly_the_nan_rows():
    config = LineConfig(days=28, covariates=True)
    kept = simulate_line(config, seed=12)
    dropped = simulate_line(LineConfig(days=28, covariates=True, drop_stop_rows=True), seed=12)
    assert kept["throughput"].isna().any()
    pd.testing.assert_frame_equal(dropped, kept.dropna(subset=["throughput"]))
    assert not dropped.isna().any().any()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"freq": "D"},
        {"freq": "7min"},
        {"freq": "bogus"},
        {"days": 0},
        {"shifts": (Shift(14.0, 1.0), Shift(6.0, 1.0))},
        {"outlier_rate": 1.5},
        {"start": "not a date"},
    ],
)
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        LineConfig(**kwargs)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="linecast")
    simulate_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["simulate", *argv])


def _read_csv(source) -> pd.DataFrame:
    return pd.read_csv(source, parse_dates=["timestamp"], index_col="timestamp")


def test_cli_writes_a_csv_that_reads_back(tmp_path):
    out = tmp_path / "line.csv"
    args = _parse(["--days", "7", "--seed", "3", "--covariates", "--out", str(out)])
    args.handler(args)
    assert out.read_text().splitlines()[1].startswith("2026-01-05T00:00:00Z,")
    expected = simulate_line(LineConfig(days=7, covariates=True), seed=3)
    read = _read_csv(out)
    assert str(read.index.tz) == "UTC"
    pd.testing.assert_frame_equal(read, expected, check_dtype=False, check_freq=False)


def test_cli_writes_to_stdout_and_drops_stops(capsys):
    args = _parse(["--days", "2", "--freq", "15min", "--drop-stops", "--start", "2026-01-07"])
    args.handler(args)
    read = _read_csv(io.StringIO(capsys.readouterr().out))
    expected = simulate_line(
        LineConfig(days=2, freq="15min", start="2026-01-07", drop_stop_rows=True), seed=0
    )
    assert list(read.columns) == ["throughput"]
    assert not read["throughput"].isna().any()
    pd.testing.assert_frame_equal(read, expected, check_freq=False)


@pytest.mark.parametrize(
    "argv",
    [["--days", "0"], ["--days", "-3"], ["--freq", "D"], ["--freq", "bogus"], ["--start", "x"]],
)
def test_cli_refuses_bad_arguments(argv, tmp_path):
    args = _parse([*argv, "--out", str(tmp_path / "never.csv")])
    with pytest.raises(UsageError):
        args.handler(args)
    assert not (tmp_path / "never.csv").exists()


def test_cli_main_exits_2_with_one_line(capsys):
    assert cli.main(["simulate", "--days", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("linecast simulate: error: --days")
