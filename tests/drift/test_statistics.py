"""The drift statistics on samples whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from app.drift.statistics import (
    PSI_EMPTY_BIN_SHARE,
    compare_samples,
    ks_test,
    performance_metrics,
    psi,
    psi_edges,
    robust_spread,
    wasserstein,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_psi_of_a_sample_with_itself_is_zero(rng: np.random.Generator) -> None:
    sample = rng.normal(size=500)
    assert psi(sample, sample) == pytest.approx(0.0, abs=1e-12)


def test_psi_of_two_draws_of_one_distribution_is_small(rng: np.random.Generator) -> None:
    # Under H0 PSI is about (bins - 1) * (1/n + 1/m) for independent draws: 0.036 here.
    values = [psi(rng.normal(size=500), rng.normal(size=500)) for _ in range(20)]
    assert np.mean(values) == pytest.approx(0.036, abs=0.012)
    assert max(values) < 0.1


def test_psi_of_a_shifted_sample_is_large(rng: np.random.Generator) -> None:
    reference = rng.normal(size=1000)
    assert psi(reference, reference + 1.0) > 0.5
    assert psi(reference, reference + 0.25) > 0.05


def test_psi_bins_come_from_the_reference_and_new_extremes_land_in_the_outer_bins(
    rng: np.random.Generator,
) -> None:
    reference = rng.uniform(0, 10, 1000)
    edges = psi_edges(reference)
    assert len(edges) == 9
    np.testing.assert_allclose(edges, np.quantile(reference, np.arange(1, 10) / 10))
    # Everything far above the reference's range: the top bin holds it all, the other nine
    # are empty and count as the floor share, so PSI is large and finite.
    value = psi(reference, np.full(100, 100.0))
    assert np.isfinite(value) and value > 3.0
    top = 1 - 9 * PSI_EMPTY_BIN_SHARE
    expected = 9 * (PSI_EMPTY_BIN_SHARE - 0.1) * np.log(PSI_EMPTY_BIN_SHARE / 0.1)
    expected += (top - 0.1) * np.log(top / 0.1)
    assert value == pytest.approx(expected, rel=1e-3)


def test_psi_merges_tied_quantiles() -> None:
    reference = np.array([0.0] * 80 + list(range(1, 21)), dtype=float)
    assert len(psi_edges(reference)) < 9
    assert psi(reference, reference) == pytest.approx(0.0, abs=1e-12)


def test_ks_and_wasserstein_match_scipy(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=300), rng.normal(0.3, 1.2, size=200)
    result = ks_test(a, b)
    expected = stats.ks_2samp(a, b)
    assert (result.statistic, result.p_value) == (expected.statistic, expected.pvalue)
    assert wasserstein(a, b) == stats.wasserstein_distance(a, b)


def test_the_ks_test_keeps_and_rejects_as_it_should(rng: np.random.Generator) -> None:
    same = ks_test(rng.normal(size=400), rng.normal(size=400))
    shifted = ks_test(rng.normal(size=400), rng.normal(0.5, 1.0, size=400))
    assert same.p_value > 0.01
    assert shifted.p_value < 1e-6 and shifted.statistic > 0.15


def test_robust_spread_is_the_standard_deviation_of_a_normal_sample(
    rng: np.random.Generator,
) -> None:
    assert robust_spread(rng.normal(0, 3, 20_000)) == pytest.approx(3, rel=0.03)
    # A few wild spikes barely move it.
    sample = rng.normal(0, 3, 2_000)
    sample[:20] = 1e6
    assert robust_spread(sample) == pytest.approx(3, rel=0.1)


def test_robust_spread_falls_back_to_the_standard_deviation_and_refuses_a_constant() -> None:
    mostly_zero = np.array([0.0] * 90 + [1.0] * 10)
    assert robust_spread(mostly_zero) == pytest.approx(np.std(mostly_zero))
    with pytest.raises(ValueError, match="constant"):
        robust_spread(np.ones(50))


def test_shifts_are_measured_in_reference_spreads(rng: np.random.Generator) -> None:
    reference = rng.normal(10, 2, 5_000)
    current = rng.normal(12, 4, 5_000)
    comparison = compare_samples(reference, current)
    assert comparison.reference_spread == pytest.approx(2, rel=0.05)
    assert comparison.mean_shift == pytest.approx(1.0, abs=0.1)
    assert comparison.spread_ratio == pytest.approx(2.0, rel=0.08)
    judged = comparison.judged()
    assert judged["wasserstein"] == pytest.approx(comparison.wasserstein / 2, rel=0.05)
    # Judged magnitudes: a fall reads like a rise, a halved spread like a doubled one.
    falling = compare_samples(reference, rng.normal(8, 1, 5_000)).judged()
    assert falling["mean_shift"] == pytest.approx(1.0, abs=0.1)
    assert falling["spread_ratio"] == pytest.approx(2.0, rel=0.08)


def test_a_flat_current_sample_is_drift_not_an_error(rng: np.random.Generator) -> None:
    comparison = compare_samples(rng.normal(size=200), np.full(50, 0.1))
    assert comparison.spread_ratio == 0.0
    assert comparison.judged()["spread_ratio"] == float("inf")


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        (np.ones(50), np.ones(50), "constant"),
        (np.array([1.0, np.nan, 2.0]), np.ones(5), "NaN or infinite"),
        (np.ones((3, 3)), np.ones(5), "1-D"),
        (np.array([1.0]), np.ones(5), "at least 2"),
    ],
)
def test_bad_samples_are_refused_with_the_reason(
    reference: np.ndarray, current: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        compare_samples(reference, current)


def test_performance_metrics_on_known_pairs() -> None:
    actual = np.array([10.0, 12.0, 8.0, 0.0])
    median = np.array([11.0, 12.0, 6.0, 0.0])
    lower, upper = median - 1.5, median + 1.5
    scores = performance_metrics(actual, median, lower, upper)
    assert scores.n == 4
    assert scores.mae == pytest.approx(3 / 4)
    assert scores.rmse == pytest.approx(np.sqrt(5 / 4))
    assert scores.bias == pytest.approx(1 / 4)  # actual - median: the forecasts ran low
    # |a - f| / (|a| + |f|): 1/21, 0, 2/14, and 0 for the pair that is 0 on both sides.
    assert scores.smape == pytest.approx(200 / 4 * (1 / 21 + 2 / 14))
    assert scores.coverage == pytest.approx(3 / 4)
    assert np.isnan(performance_metrics(actual, median).coverage)


def test_performance_metrics_refuse_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        performance_metrics(np.ones(3), np.ones(4))
