"""The fitted pipeline: recovery of known parts, exact inversion, continuation, dirty input,
errors, JSON, and sensible reports on the real data sets."""

import json

import numpy as np
import pandas as pd
import pytest

from preprocessing.pipeline import Pipeline, PipelineConfig, PreprocessingError
from preprocessing.regularise import RegulariseConfig
from preprocessing.report import DSF_NOT_OK, DSF_OK, PreprocessingReport
from tests.shared_data import shared_data

DAY, WEEK = 24, 168


def _truth(k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trend, daily and weekly parts of the synthetic line at steps k."""
    trend = 10.0 + 0.01 * k
    daily = 2.0 * np.sin(2 * np.pi * k / DAY) + 0.5 * np.cos(4 * np.pi * k / DAY)
    weekly = 1.5 * np.sin(2 * np.pi * k / WEEK)
    return trend, daily, weekly


def _line(n: int = 20 * WEEK, noise: float = 0.3, seed: int = 0) -> pd.Series:
    """Trend + two seasonal periods + AR(1) noise, hourly, UTC."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    ar = np.zeros(n)
    shocks = rng.normal(scale=noise, size=n)
    for i in range(1, n):
        ar[i] = 0.5 * ar[i - 1] + shocks[i]
    trend, daily, weekly = _truth(k)
    index = pd.date_range("2026-01-05", periods=n, freq="h", tz="UTC")
    return pd.Series(trend + daily + weekly + ar, index=index, name="y")


@pytest.fixture(scope="module")
def fitted() -> tuple[Pipeline, pd.Series]:
    series = _line()
    return Pipeline().fit(series), series


def test_known_periods_and_trend_are_recovered(fitted: tuple[Pipeline, pd.Series]) -> None:
    pipeline, _ = fitted
    report = pipeline.report
    assert sorted(p["period"] for p in report.periods) == [DAY, WEEK]
    assert report.trend in ("linear", "robust-linear")
    assert pipeline.params.trend.slope == pytest.approx(0.01, abs=5e-4)
    assert report.before.verdict == "trend-stationary"
    assert report.after.verdict == "stationary"
    assert (report.dsf_verdict, report.recommended_mode) == (DSF_OK, "dsf")


def test_seasonal_profiles_are_close_to_the_truth(fitted: tuple[Pipeline, pd.Series]) -> None:
    pipeline, _ = fitted
    _, daily, weekly = _truth(np.arange(WEEK))
    profiles = {s.period: np.asarray(s.profile) for s in pipeline.params.seasonal}
    # The daily and weekly shapes split their common level arbitrarily; compare their sum.
    combined = profiles[WEEK] + profiles[DAY][np.arange(WEEK) % DAY]
    truth = weekly + daily
    assert np.abs((combined - combined.mean()) - (truth - truth.mean())).max() < 0.4


def test_residual_is_judged_stationary_and_scaled(fitted: tuple[Pipeline, pd.Series]) -> None:
    pipeline, series = fitted
    z = pipeline.transform(pipeline.clean(series)).to_numpy()
    assert abs(np.median(z)) < 0.05
    assert 0.8 < np.subtract(*np.percentile(z, [75, 25])) / 1.349 < 1.2


@pytest.mark.parametrize(
    "trend", ["none", "linear", "robust-linear", "decomposition", "difference"]
)
def test_transform_then_inverse_is_exact(trend: str) -> None:
    series = _line(n=6 * WEEK, seed=1)
    series.iloc[300:340] = np.nan  # a long gap: stays a gap both ways
    pipeline = Pipeline(PipelineConfig(trend=trend)).fit(series)
    clean = pipeline.clean(series)
    z = pipeline.transform(clean)
    back = pipeline.inverse_transform(z, anchors=clean)
    assert pipeline.report.trend == trend
    np.testing.assert_array_equal(np.isnan(back.to_numpy()), np.isnan(clean.to_numpy()))
    np.testing.assert_allclose(back.to_numpy(), clean.to_numpy(), rtol=0, atol=1e-9)


def test_difference_inverse_needs_anchors() -> None:
    pipeline = Pipeline(PipelineConfig(trend="difference")).fit(_line(n=4 * WEEK))
    z = pipeline.transform(pipeline.clean(_line(n=4 * WEEK)))
    with pytest.raises(ValueError, match="anchors"):
        pipeline.inverse_transform(z)


@pytest.mark.parametrize("trend", ["linear", "decomposition"])
def test_zero_residual_forecast_continues_trend_and_seasons(trend: str) -> None:
    n, horizon = 12 * WEEK, 2 * DAY
    series = _line(n=n, noise=1e-3, seed=2)
    pipeline = Pipeline(PipelineConfig(trend=trend)).fit(series)
    clean = pipeline.clean(series)
    zero = pipeline.params.scaler.transform(np.zeros((1, horizon, 3)))
    last_k = pipeline.steps_of(clean.index[-1:])
    forecast = pipeline.to_original_many(zero, clean.to_numpy()[-1:], last_k)[0]
    expected = sum(_truth(np.arange(n, n + horizon)))
    np.testing.assert_allclose(forecast[:, 1], expected, atol=0.05)
    np.testing.assert_array_equal(forecast[:, 0], forecast[:, 1])
    stamps = pipeline.forecast_stamps(clean.index[-1], horizon)
    assert stamps[0] == series.index[-1] + pd.Timedelta(hours=1)


@pytest.mark.slow
def test_differenced_forecasts_are_running_sums_of_increments_from_the_last_level() -> None:
    rng = np.random.default_rng(3)
    index = pd.date_range("2026-01-01", periods=2000, freq="h", tz="UTC")
    walk = pd.Series(np.cumsum(rng.normal(size=2000)), index=index)
    pipeline = Pipeline(PipelineConfig(trend="difference", periods=())).fit(walk)
    scaler = pipeline.params.scaler
    assert scaler.center == 0.0  # zero means no change
    clean = pipeline.clean(walk)
    last, last_k = clean.to_numpy()[-1:], pipeline.steps_of(clean.index[-1:])
    no_change = pipeline.to_original_many(np.zeros((1, 16, 1)), last, last_k)[0, :, 0]
    np.testing.assert_allclose(no_change, walk.iloc[-1], rtol=1e-12)
    # The network forecasts the summed increments: one unit a step reads as h units at step h.
    climbing = (np.arange(1, 17) / scaler.scale)[None, :, None]
    forecast = pipeline.to_original_many(climbing, last, last_k)[0, :, 0]
    np.testing.assert_allclose(forecast - walk.iloc[-1], np.arange(1, 17), rtol=1e-9)


def test_dirty_input_is_repaired_and_counted() -> None:
    clean = _line(n=6 * WEEK, seed=4)
    dirty = clean.copy()
    dirty.iloc[[10, 20, 30]] = [np.nan, np.inf, -np.inf]
    dirty.iloc[500:520] = np.nan  # a 20-hour stop
    dirty = pd.concat([dirty, dirty.iloc[[100, 200]]])  # two duplicate stamps
    dirty.index = dirty.index.tz_convert("Europe/Berlin")  # local stamps, converted back to UTC
    dirty = dirty.sample(frac=1.0, random_state=4)  # unsorted
    pipeline = Pipeline().fit(dirty)
    counts = pipeline.report.counts
    assert counts["input_rows"] == len(clean) + 2
    assert counts["duplicates"] == 2
    assert counts["non_finite"] == 23
    assert counts["filled_points"] == 3 and counts["long_gaps"] == 1
    assert counts["long_gap_points"] == 20
    assert pipeline.report.start == clean.index[0].isoformat()
    z = pipeline.transform(pipeline.clean(dirty))
    assert str(z.index.tz) == "UTC" and z.index.is_monotonic_increasing
    assert int(z.isna().sum()) == 20


def test_too_short_and_constant_series_are_refused() -> None:
    index = pd.date_range("2026-01-01", periods=20, freq="h", tz="UTC")
    with pytest.raises(PreprocessingError, match=r"20 readings .* at least 48"):
        Pipeline().fit(pd.Series(np.arange(20.0), index=index))
    flat_index = pd.date_range("2026-01-01", periods=500, freq="h", tz="UTC")
    with pytest.raises(PreprocessingError, match="constant"):
        Pipeline().fit(pd.Series(7.5, index=flat_index))


def test_forced_trend_is_recorded_with_the_reason() -> None:
    pipeline = Pipeline(PipelineConfig(trend="decomposition")).fit(_line(n=6 * WEEK))
    step = next(s for s in pipeline.report.steps if s["step"] == "detrend")
    assert step == {"step": "detrend", "detail": "decomposition", "why": "forced by configuration"}


def test_a_series_left_non_stationary_is_sent_to_bptt() -> None:
    rng = np.random.default_rng(5)
    index = pd.date_range("2026-01-01", periods=3000, freq="h", tz="UTC")
    walk = pd.Series(np.cumsum(rng.normal(size=3000)), index=index)
    report = Pipeline(PipelineConfig(trend="none", periods=())).fit(walk).report
    assert report.after.verdict != "stationary"
    assert (report.dsf_verdict, report.recommended_mode) == (DSF_NOT_OK, "bptt")


@pytest.mark.slow
def test_a_random_walk_is_differenced_automatically() -> None:
    rng = np.random.default_rng(6)
    index = pd.date_range("2026-01-01", periods=3000, freq="h", tz="UTC")
    walk = pd.Series(np.cumsum(rng.normal(size=3000)), index=index)
    report = Pipeline().fit(walk).report
    assert report.before.verdict == "difference-stationary"
    assert report.trend == "difference" and report.recommended_mode == "dsf"


def test_json_round_trip_keeps_parameters_and_report(fitted: tuple[Pipeline, pd.Series]) -> None:
    pipeline, series = fitted
    text = pipeline.to_json()
    assert "pickle" not in text and json.loads(text)["params"]["freq"] == "h"
    restored = Pipeline.from_json(text)
    assert restored.to_json() == text
    assert restored.report == pipeline.report
    clean = pipeline.clean(series)
    np.testing.assert_array_equal(
        restored.transform(clean).to_numpy(), pipeline.transform(clean).to_numpy()
    )
    assert PreprocessingReport.from_dict(json.loads(pipeline.report.to_json())) == pipeline.report


def test_new_data_off_the_fitted_grid_is_refused(fitted: tuple[Pipeline, pd.Series]) -> None:
    pipeline, series = fitted
    shifted = series.copy()
    shifted.index = shifted.index + pd.Timedelta(minutes=30)
    with pytest.raises(ValueError, match="not on the fitted h grid"):
        pipeline.transform(shifted.asfreq("h"))


def test_five_minute_candidates_come_from_the_sampling_interval() -> None:
    rng = np.random.default_rng(7)
    n = 4 * 2016
    index = pd.date_range("2026-01-01", periods=n, freq="5min", tz="UTC")
    daily = 3.0 * np.sin(2 * np.pi * np.arange(n) / 288)
    report = Pipeline().fit(pd.Series(daily + rng.normal(size=n), index=index)).report
    assert report.candidate_periods == {"day": 288, "week": 2016}
    assert [p["period"] for p in report.periods] == [288]


def test_a_given_frequency_is_used() -> None:
    series = _line(n=4 * WEEK)
    config = PipelineConfig(regularise=RegulariseConfig(freq="2h"))
    report = Pipeline(config).fit(series).report
    # The last stamp (hour 671) snaps to the nearest 2-hour point, hour 672.
    assert report.freq == "2h" and report.points == 2 * WEEK + 1
    assert report.candidate_periods == {"day": 12, "week": 84}


def _real_report(series: pd.Series) -> PreprocessingReport:
    report = Pipeline().fit(series).report
    assert report.dsf_verdict in (DSF_OK, DSF_NOT_OK)
    assert report.after.verdict in ("stationary", "non-stationary", "trend-stationary")
    assert json.loads(report.to_json())["freq"] == report.freq
    return report


@pytest.mark.slow
def test_etth1_oil_temperature_report_finds_the_daily_period() -> None:
    frame = pd.read_csv(shared_data("ETTh1.csv"), parse_dates=["date"], index_col="date")
    report = _real_report(frame["OT"])
    assert report.freq == "h" and report.points == 17420
    assert DAY in [p["period"] for p in report.periods]
    assert report.counts["duplicates"] == 0 and report.counts["missing_steps"] == 0


def test_nab_machine_temperature_report_is_sensible() -> None:
    path = shared_data("nab_machine_temperature.csv")
    frame = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")
    report = _real_report(frame["value"])
    assert report.freq == "5min"
    assert report.candidate_periods == {"day": 288, "week": 2016}
    assert report.counts["input_rows"] == len(frame)
    assert report.outliers["count"] > 0  # the record holds known failures


@pytest.mark.slow
def test_skab_valve_run_report_is_sensible() -> None:
    path = shared_data("skab/valve1-1.csv")
    frame = pd.read_csv(path, sep=";", parse_dates=["datetime"], index_col="datetime")
    report = _real_report(frame["Temperature"])
    assert report.freq == "s"
    assert report.counts["filled_points"] > 0  # the bench logs about one second apart
    assert report.counts["imputed_share"] < 0.1


@pytest.mark.slow
def test_seasonal_profiles_keep_the_plants_local_hours_across_summer_time() -> None:
    """A Berlin line's daily pattern follows its wall clock: in UTC it moves an hour earlier
    on 29 March 2026. Profiles by local phase leave no daily shape in the residual on either
    side of the change; profiles by UTC phase, fitted on the last weeks (summer time), leave
    the shape's 20-unit jumps in the winter months."""
    index = pd.date_range("2026-01-05", "2026-05-10", freq="h", tz="UTC", inclusive="left")
    local_hour = index.tz_convert("Europe/Berlin").hour.to_numpy()
    rng = np.random.default_rng(7)
    values = 100 + 20 * ((local_hour >= 6) & (local_hour < 22)) + rng.normal(0, 0.5, len(index))
    series = pd.Series(values, index=index)
    residuals = {}
    for zone in ("Europe/Berlin", "UTC"):
        pipeline = Pipeline(PipelineConfig(trend="none", periods=(24,), timezone=zone))
        pipeline.fit(series)
        z = pipeline.transform(pipeline.clean(series)) * pipeline.params.scaler.scale
        residuals[zone] = (z.loc[:"2026-03-20"].abs().max(), z.loc["2026-04-01":].abs().max())
    assert max(residuals["Europe/Berlin"]) < 5
    winter, summer = residuals["UTC"]
    assert winter > 15 and summer < 5
