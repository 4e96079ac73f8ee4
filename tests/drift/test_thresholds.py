"""Thresholds: judging, the defaults, settings, and calibration on a series' own reference."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from app.drift.statistics import compare_samples
from app.drift.thresholds import (
    DEFAULTS,
    Calibration,
    Threshold,
    calibrate,
    check_overrides,
    choose,
    chunk_starts,
    default_for,
    ks_critical,
    thresholds_from_null,
    worst,
)
from app.settings import Settings

WINDOW = 168


def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """A stationary AR(1) series with unit variance."""
    x = np.empty(n)
    x[0] = rng.normal()
    innovations = rng.normal(0, np.sqrt(1 - phi**2), n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + innovations[t]
    return x


def compare(chunk: np.ndarray, rest: np.ndarray) -> dict[str, float]:
    return compare_samples(rest, chunk).judged()


@pytest.mark.parametrize(
    ("value", "direction", "expected"),
    [
        (0.05, "above", "ok"),
        (0.1, "above", "warn"),
        (0.2, "above", "alert"),
        (3.0, "above", "alert"),
        (0.5, "below", "ok"),
        (0.1, "below", "warn"),
        (0.001, "below", "alert"),
        (None, "above", "unknown"),
        (float("nan"), "below", "unknown"),
    ],
)
def test_a_threshold_judges_in_its_direction(
    value: float | None, direction: str, expected: str
) -> None:
    threshold = (
        Threshold(0.1, 0.2, "above") if direction == "above" else Threshold(0.1, 0.01, "below")
    )
    assert threshold.judge(value) == expected


def test_thresholds_in_the_wrong_order_are_refused() -> None:
    with pytest.raises(ValueError, match="must not exceed alert"):
        Threshold(0.3, 0.2, "above")
    with pytest.raises(ValueError, match="must not be below alert"):
        Threshold(0.01, 0.05, "below")


def test_every_default_names_its_source() -> None:
    for name, threshold in DEFAULTS.items():
        assert threshold.source == "default" and threshold.note, name
    assert (DEFAULTS["psi"].warn, DEFAULTS["psi"].alert) == (0.1, 0.2)


def test_the_ks_statistic_defaults_are_the_critical_values_for_the_sizes() -> None:
    threshold = ks_critical(600, 168)
    # The p-value at the critical statistic is the test's alpha (asymptotically).
    distribution = stats.kstwobign
    scale = np.sqrt(600 * 168 / (600 + 168))
    assert distribution.sf(threshold.warn * scale) == pytest.approx(0.05, abs=0.002)
    assert distribution.sf(threshold.alert * scale) == pytest.approx(0.01, abs=0.001)
    assert default_for("ks_statistic", 600, 168) == threshold


def test_overrides_are_checked_and_named() -> None:
    assert check_overrides({"psi": [0.15, 0.3]}) == {"psi": (0.15, 0.3)}
    with pytest.raises(ValueError, match=r"unknown drift metric 'psy'"):
        check_overrides({"psy": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"drift threshold ks_pvalue: warn 0\.001 must not be"):
        check_overrides({"ks_pvalue": [0.001, 0.01]})


def test_a_setting_beats_calibration_which_beats_the_default() -> None:
    calibrated = Threshold(0.4, 0.6, "above", "calibrated")
    calibration = Calibration(WINDOW, 12, {"psi": calibrated}, {"psi": [0.1] * 12})
    assert choose("psi", overrides={}, calibration=None) == DEFAULTS["psi"]
    assert choose("psi", overrides={}, calibration=calibration) == calibrated
    chosen = choose("psi", overrides={"psi": (0.3, 0.5)}, calibration=calibration)
    assert (chosen.warn, chosen.alert, chosen.source) == (0.3, 0.5, "setting")


def test_worst_orders_alert_warn_ok_unknown() -> None:
    assert worst(["ok", "unknown", "warn"]) == "warn"
    assert worst(["ok", "alert", "warn"]) == "alert"
    assert worst(["unknown"]) == "unknown"
    assert worst([]) is None


def test_chunks_are_a_quarter_window_apart_and_reach_the_end() -> None:
    starts = chunk_starts(700, WINDOW)
    assert starts[:3] == [0, 42, 84]
    assert starts[-1] == 700 - WINDOW
    assert chunk_starts(100, WINDOW) == []


def test_a_short_reference_is_not_calibrated_and_says_why() -> None:
    calibration = calibrate(np.arange(400.0), WINDOW, compare)
    assert calibration.thresholds == {}
    assert "calibration needs 3 windows of 168" in calibration.reason
    assert calibration.describe("psi") == {"calibrated": False, "reason": calibration.reason}


def test_calibrated_thresholds_sit_at_mean_plus_3_and_5_sd() -> None:
    values = np.array([0.1, 0.2, 0.3, 0.2, 0.2])
    threshold = thresholds_from_null(values, "above")
    assert threshold is not None
    sd = values.std(ddof=1)
    assert (threshold.warn, threshold.alert) == pytest.approx((0.2 + 3 * sd, 0.2 + 5 * sd))
    # p-values on -log10: 10^-1, 10^-2, 10^-3 have mean 2 and sd 1 there.
    p = thresholds_from_null(np.array([0.1, 0.01, 0.001]), "below", p_value=True)
    assert p is not None
    assert (p.warn, p.alert) == pytest.approx((1e-5, 1e-7))
    assert thresholds_from_null(np.full(5, 0.2), "above") is None


def test_calibration_on_an_autocorrelated_series_lifts_the_thresholds_above_the_defaults() -> None:
    # Hourly AR(1) noise with phi 0.95: a week holds a handful of independent readings, so
    # windows of it differ far more than the defaults (made for independent draws) allow.
    rng = np.random.default_rng(11)
    reference = ar1(rng, 4 * WINDOW * 2, phi=0.95)
    calibration = calibrate(reference, WINDOW, compare)
    assert calibration.chunks >= 20
    psi, p_value = calibration.thresholds["psi"], calibration.thresholds["ks_pvalue"]
    assert psi.alert > DEFAULTS["psi"].alert
    assert p_value.alert < DEFAULTS["ks_pvalue"].alert
    # Later, independent windows of the same process, nothing drifted: the defaults alert on
    # most of them, the calibrated thresholds on few.
    fixed = calibrated = 0
    windows = 30
    for _ in range(windows):
        judged = compare_samples(reference, ar1(rng, WINDOW, phi=0.95)).judged()
        fixed += DEFAULTS["psi"].judge(judged["psi"]) == "alert"
        calibrated += psi.judge(judged["psi"]) == "alert"
    print(
        f"\nAR(1) phi 0.95, window {WINDOW}: PSI alerts on quiet windows: fixed 0.2 "
        f"{fixed}/{windows}, calibrated {psi.alert:.2f} {calibrated}/{windows}"
    )
    assert fixed >= windows // 2
    assert calibrated <= windows // 10
    # While a level shift of three standard deviations still alerts.
    shifted = compare_samples(reference, ar1(rng, WINDOW, phi=0.95) + 3.0).judged()
    assert psi.judge(shifted["psi"]) == "alert"


def test_thresholds_and_the_policy_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    assert (settings.drift_auto_retrain, settings.drift_calibrate) == (False, True)
    assert (settings.drift_window_steps, settings.drift_reference_steps) == (168, 672)
    monkeypatch.setenv("LINECAST_DRIFT_THRESHOLDS", '{"psi": [0.15, 0.3]}')
    monkeypatch.setenv("LINECAST_DRIFT_AUTO_RETRAIN", "true")
    settings = Settings()
    assert settings.drift_thresholds == {"psi": (0.15, 0.3)}
    assert settings.drift_auto_retrain is True
    monkeypatch.setenv("LINECAST_DRIFT_THRESHOLDS", '{"psi": [0.3, 0.15]}')
    with pytest.raises(ValidationError, match=r"drift threshold psi: warn 0\.3 must not exceed"):
        Settings()
