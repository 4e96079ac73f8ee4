"""Seasonal period detection, decomposition and continuation by phase.

Synthetic series: 8 weeks of hourly data = linear trend + daily sine + weekly sine + noise.
Statistical outcomes are asserted over seeds 0..4 (all pass; margins are wide: daily strength
~0.88, weekly ~0.75, the absent period 17 scores 0.0)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from preprocessing.seasonality import (
    DetectedPeriod,
    decompose,
    detect_periods,
    seasonal_profile,
)
from tests.shared_data import shared_data

SEEDS = range(5)
CANDIDATES = {"day": 24, "week": 168, "odd": 17}  # 17: not a harmonic of 24 or 168


def _truth(n: int, start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.arange(start, start + n)
    return 0.01 * t, 2.0 * np.sin(2 * np.pi * t / 24), 1.5 * np.sin(2 * np.pi * t / 168)


def _series(seed: int, n: int = 24 * 7 * 8) -> np.ndarray:
    trend, day, week = _truth(n)
    return trend + day + week + np.random.default_rng(seed).normal(0.0, 0.5, n)


@pytest.mark.parametrize("seed", SEEDS)
def test_detects_daily_and_weekly_not_absent_period(seed: int) -> None:
    found = detect_periods(_series(seed), CANDIDATES)
    by_period = {d.period: d for d in found}
    assert set(by_period) == {24, 168}
    assert by_period[24].strength > 0.5
    assert by_period[168].strength > 0.5
    assert all(0.0 <= d.strength <= 1.0 for d in found)
    assert json.loads(found[0].to_json())["name"] in {"day", "week"}


def test_daily_pattern_is_not_credited_to_the_week() -> None:
    t = np.arange(24 * 7 * 8)
    y = np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 0.3, len(t))
    assert [d.period for d in detect_periods(y, CANDIDATES)] == [24]


def test_detection_skips_periods_the_series_cannot_hold() -> None:
    found = detect_periods(_series(0, n=24 * 10), CANDIDATES)
    assert [d.period for d in found] == [24]
    assert detect_periods(_series(0), CANDIDATES, max_periods=1) == [
        max(detect_periods(_series(0), CANDIDATES), key=lambda d: d.strength)
    ]
    assert isinstance(found[0], DetectedPeriod)


@pytest.mark.parametrize("seed", SEEDS)
def test_components_close_to_truth(seed: int) -> None:
    y = _series(seed)
    trend, day, week = _truth(len(y))
    d = decompose(y, [168, 24])
    assert d.periods == (24, 168)
    assert d.dropped == ()
    assert np.corrcoef(d.seasonal[24], day)[0, 1] > 0.9
    assert np.corrcoef(d.seasonal[168], week)[0, 1] > 0.9
    assert np.sqrt(np.mean((d.trend - trend) ** 2)) < 0.15
    np.testing.assert_allclose(d.trend + sum(d.seasonal.values()) + d.residual, y)
    assert not d.trend.flags.writeable


def test_short_series_drops_weekly_with_reason_and_keeps_daily() -> None:
    y = _series(0, n=24 * 10)  # 240 points < 2 weekly cycles
    d = decompose(y, [24, 168])
    assert d.periods == (24,)
    assert [x.period for x in d.dropped] == [168]
    assert "two full cycles" in d.dropped[0].reason
    assert np.corrcoef(d.seasonal[24], _truth(len(y))[1])[0, 1] > 0.9
    report = json.loads(d.to_json())
    assert report["dropped"][0]["period"] == 168
    assert json.loads(d.dropped[0].to_json())["period"] == 168


def test_too_short_for_any_period_falls_back_to_rolling_median() -> None:
    y = _series(0, n=40)
    d = decompose(y, [24, 168])
    assert d.periods == ()
    assert d.seasonal == {}
    assert {x.period for x in d.dropped} == {24, 168}
    assert d.trend.shape == d.residual.shape == (40,)
    np.testing.assert_allclose(d.trend + d.residual, y)
    assert "rolling median" in d.notes[0]
    assert decompose(np.array([1.0]), []).trend.tolist() == [1.0]


def test_nan_raises_naming_it() -> None:
    y = _series(0)
    y[100] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        decompose(y, [24])
    with pytest.raises(ValueError, match="NaN"):
        detect_periods(y, CANDIDATES)


def test_two_sines_continued_by_phase_match_the_future() -> None:
    n, horizon = 24 * 7 * 8 + 5, 48  # +5: the forecast does not start at phase 0
    _, day, week = _truth(n)
    d = decompose(day + week, [24, 168])
    ahead = np.arange(n, n + horizon)
    future = sum(seasonal_profile(d.seasonal[p], np.arange(n), p)[ahead % p] for p in d.periods)
    _, f_day, f_week = _truth(horizon, start=n)
    np.testing.assert_allclose(future, f_day + f_week, atol=0.05)


def test_a_profile_is_the_mean_by_the_given_phase() -> None:
    c = np.tile(np.arange(5.0), 7)[2:]  # c[i] = (i + 2) % 5
    prof = seasonal_profile(c, np.arange(len(c)), 5)
    np.testing.assert_allclose(prof, [2.0, 3.0, 4.0, 0.0, 1.0])  # phase k holds (k + 2) % 5
    # Phases one step later (an hour of summer time) move the shape with them.
    np.testing.assert_allclose(seasonal_profile(c, np.arange(len(c)) + 1, 5), np.roll(prof, 1))
    with pytest.raises(ValueError):
        seasonal_profile(c[:3], np.arange(3), 5)


def test_long_series_is_fitted_on_the_tail_and_noted() -> None:
    y = _series(1, n=24 * 7 * 20)
    d = decompose(y, [24, 168], max_points=24 * 7 * 8)
    assert "last" in d.notes[0]
    assert np.corrcoef(d.seasonal[24], _truth(len(y))[1])[0, 1] > 0.9
    np.testing.assert_allclose(d.trend + sum(d.seasonal.values()) + d.residual, y)


def test_etth1_ot_shows_daily_period() -> None:
    path = shared_data("ETTh1.csv")
    ot = pd.read_csv(path, usecols=["OT"])["OT"].to_numpy()
    assert 24 in [d.period for d in detect_periods(ot, {"day": 24, "week": 168})]
