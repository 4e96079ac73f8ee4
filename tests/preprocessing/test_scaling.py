"""Robust standardisation: fitted values, fallbacks, round trips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from preprocessing.scaling import RobustScaler


@pytest.mark.parametrize("seed", range(3))
def test_transform_inverse_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=120.0, scale=7.0, size=1_000)
    scaler = RobustScaler.fit(x)
    # Exact up to two roundings (one subtract/divide, one multiply/add).
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(x)), x, rtol=1e-13)


def test_median_and_iqr_on_a_known_array() -> None:
    x = np.arange(1.0, 10.0)  # 1..9: median 5, quartiles 3 and 7
    scaler = RobustScaler.fit(x)
    assert scaler.center == 5.0
    assert scaler.scale == pytest.approx(4.0 / 1.349)
    assert scaler.scale_source == "iqr"
    # the upper quartile lands on the standard normal's: 0.6745
    np.testing.assert_allclose(scaler.transform(np.array([5.0, 7.0])), [0.0, 0.6745])


def test_constant_series_does_not_divide_by_zero() -> None:
    x = np.full(50, 3.25)
    scaler = RobustScaler.fit(x)
    assert (scaler.center, scaler.scale, scaler.scale_source) == (3.25, 1.0, "unit")
    with np.errstate(all="raise"):
        z = scaler.transform(x)
    np.testing.assert_array_equal(z, np.zeros(50))
    np.testing.assert_array_equal(scaler.inverse_transform(z), x)


def test_set_point_with_rare_excursions_falls_back_to_std() -> None:
    x = np.full(100, 10.0)
    x[[3, 40, 77]] = [11.0, 9.0, 12.0]  # IQR = MAD = 0, but the series does move
    scaler = RobustScaler.fit(x)
    assert scaler.scale_source == "std"
    assert scaler.scale == pytest.approx(np.std(x))


def test_json_round_trip_is_equal() -> None:
    scaler = RobustScaler.fit(np.random.default_rng(0).standard_t(df=3, size=500))
    text = scaler.to_json()
    assert RobustScaler.from_json(text) == scaler
    assert set(dataclasses.asdict(scaler)) == {"center", "scale", "scale_source"}
    assert '"center": ' in text and "pickle" not in text


def test_nan_is_ignored_in_fit_and_passed_through() -> None:
    x = np.arange(1.0, 10.0)
    with_nan = np.r_[np.nan, x[:4], np.nan, np.inf, x[4:], np.nan]
    assert RobustScaler.fit(with_nan) == RobustScaler.fit(x)
    z = RobustScaler.fit(x).transform(np.array([np.nan, 5.0]))
    assert np.isnan(z[0]) and z[1] == 0.0


@pytest.mark.parametrize("values", [np.full(5, np.nan), np.array([]), np.array([np.inf, np.nan])])
def test_fit_refuses_no_finite_values(values: np.ndarray) -> None:
    with pytest.raises(ValueError, match="no finite"):
        RobustScaler.fit(values)


def test_series_keeps_index_and_name() -> None:
    index = pd.date_range("2026-01-01", periods=5, freq="h", tz="UTC")
    s = pd.Series([1.0, 2.0, 3.0, 4.0, 100.0], index=index, name="line_3")
    scaler = RobustScaler.fit(s)
    z = scaler.transform(s)
    assert isinstance(z, pd.Series)
    assert z.index.equals(index) and z.name == "line_3"
    pd.testing.assert_series_equal(scaler.inverse_transform(z), s)


def test_outlier_does_not_set_the_scale() -> None:
    x = np.random.default_rng(1).normal(size=1_000)
    spiked = x.copy()
    spiked[0] = 1e6
    assert RobustScaler.fit(spiked).scale == pytest.approx(RobustScaler.fit(x).scale, rel=0.01)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"center": 0.0, "scale": 0.0}, "scale"),
        ({"center": 0.0, "scale": -1.0}, "scale"),
        ({"center": float("nan"), "scale": 1.0}, "center"),
        ({"center": 0.0, "scale": 1.0, "scale_source": "range"}, "scale_source"),
    ],
)
def test_invalid_parameters_are_refused(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RobustScaler(**kwargs)


def test_two_dimensional_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        RobustScaler.fit(np.zeros((3, 3)))
