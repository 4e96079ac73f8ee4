"""The drift monitor's statistics: pure functions of two samples, or of forecasts and actuals.

Distribution comparisons (`compare_samples`) measure how far a current sample lies from a
reference sample, in ways that each catch something the others miss:

- PSI (population stability index) on bins fixed from the reference: which parts of the
  distribution gained or lost mass;
- the two-sample Kolmogorov-Smirnov test: the largest gap between the two empirical CDFs, and
  its p-value under H0 "both samples come from one distribution" (for independent draws:
  on an autocorrelated series the p-value is far too small, which is why thresholds are
  calibrated per series, see `app.drift.thresholds`);
- the Wasserstein (earth mover's) distance: how far the mass moved, in the series' units and
  in units of the reference spread;
- the shift of the mean and the ratio of the spreads, in units of the reference spread.

The reference spread is robust: IQR / 1.349 (the standard deviation for a normal
distribution), so a few spikes in the reference do not shrink every shift measured in it.

Performance metrics (`performance_metrics`) score median forecasts and intervals against the
actuals that arrived. Inputs must be finite 1-D arrays; bad input fails at once with a
ValueError naming it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

PSI_BINS = 10
# Share given to a bin that one sample leaves empty: without it PSI is infinite (ln 0). 1e-4 is
# the value common in credit scoring; it caps one empty bin's term at about 0.1 * ln(1000) = 0.7
# for a bin holding 10 % of the other sample, so a single empty bin still reads as a large shift.
PSI_EMPTY_BIN_SHARE = 1e-4
# IQR of a standard normal distribution: IQR / 1.349 estimates its standard deviation.
NORMAL_IQR = 1.349
CONSTANT_RTOL = 1e-9


def _sample(values: Any, name: str, minimum: int = 2) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values; drop them first")
    if array.size < minimum:
        raise ValueError(f"{name} has {array.size} values; at least {minimum} are needed")
    return array


def robust_spread(values: Any) -> float:
    """IQR / 1.349; the standard deviation when the IQR is 0 (a series at one value most of the
    time). ValueError for a constant sample, which has no spread to measure shifts in."""
    x = _sample(values, "values")
    # Relative to the values' size: the float rounding of a constant sample's mean leaves a
    # standard deviation of 1e-17, not 0.
    negligible = CONSTANT_RTOL * float(np.abs(x).max())
    q25, q75 = np.quantile(x, [0.25, 0.75])
    spread = float(q75 - q25) / NORMAL_IQR
    if spread > negligible:
        return spread
    spread = float(np.std(x))
    if spread > negligible:
        return spread
    raise ValueError("the sample is constant: it has no spread to measure a shift in")


def psi_edges(reference: Any, bins: int = PSI_BINS) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (deciles by default); tied quantiles merge,
    so a reference with few distinct values gets fewer, never empty-by-construction, bins."""
    if bins < 2:
        raise ValueError(f"bins must be >= 2; got {bins}")
    x = _sample(reference, "reference")
    inner = np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(inner)


def psi(reference: Any, current: Any, bins: int = PSI_BINS) -> float:
    """Population stability index: sum over bins of (c - r) * ln(c / r), with r and c the
    shares of the reference and current samples in each bin.

    Bins are fixed from the reference (`psi_edges`), open at both ends, so the current sample's
    new extremes land in the outer bins. Empty bins count as `PSI_EMPTY_BIN_SHARE`. 0 for
    identical distributions; about 0.1 is read as a moderate shift and 0.2 as a large one.
    """
    ref, cur = _sample(reference, "reference"), _sample(current, "current")
    edges = psi_edges(ref, bins)
    r = _shares(ref, edges)
    c = _shares(cur, edges)
    return float(np.sum((c - r) * np.log(c / r)))


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # Bin i holds edges[i-1] < x <= edges[i]: a value equal to an edge joins the lower bin,
    # so a reference quantile tied with many values keeps them together.
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    shares = np.maximum(counts / values.size, PSI_EMPTY_BIN_SHARE)
    return shares / shares.sum()


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test. H0: both samples come from the same continuous
    distribution (for independent draws). `statistic` is the largest CDF gap, in [0, 1]."""

    statistic: float
    p_value: float


def ks_test(reference: Any, current: Any) -> KSResult:
    ref, cur = _sample(reference, "reference"), _sample(current, "current")
    result = stats.ks_2samp(ref, cur)
    return KSResult(float(result.statistic), float(result.pvalue))


def wasserstein(reference: Any, current: Any) -> float:
    """The 1-Wasserstein distance between the samples' distributions, in their units."""
    ref, cur = _sample(reference, "reference"), _sample(current, "current")
    return float(stats.wasserstein_distance(ref, cur))


@dataclass(frozen=True)
class SampleComparison:
    """A current sample against a reference sample.

    Spread units: `wasserstein_spread` and `mean_shift` divide by the reference's robust spread;
    `mean_shift` is signed (positive: the current sample is higher). `spread_ratio` is the
    current robust spread over the reference's.
    """

    n_reference: int
    n_current: int
    reference_spread: float
    psi: float
    ks_statistic: float
    ks_pvalue: float
    wasserstein: float
    wasserstein_spread: float
    mean_shift: float
    spread_ratio: float

    def judged(self) -> dict[str, float]:
        """The values thresholds are applied to, by metric name: magnitudes, so that one
        direction ("above") judges a rise and a fall alike. `spread_ratio` becomes
        max(r, 1/r): a spread that halves is as far off as one that doubles."""
        ratio = self.spread_ratio
        return {
            "psi": self.psi,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "wasserstein": self.wasserstein_spread,
            "mean_shift": abs(self.mean_shift),
            "spread_ratio": max(ratio, 1 / ratio) if ratio > 0 else float("inf"),
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_samples(reference: Any, current: Any, bins: int = PSI_BINS) -> SampleComparison:
    """Every distribution comparison of `current` against `reference` at once.

    ValueError for a constant reference (no spread to measure in) or fewer than two values.
    """
    ref, cur = _sample(reference, "reference"), _sample(current, "current")
    spread = robust_spread(ref)
    ks = ks_test(ref, cur)
    distance = wasserstein(ref, cur)
    current_spread = _spread_or_zero(cur)
    return SampleComparison(
        n_reference=int(ref.size),
        n_current=int(cur.size),
        reference_spread=spread,
        psi=psi(ref, cur, bins),
        ks_statistic=ks.statistic,
        ks_pvalue=ks.p_value,
        wasserstein=distance,
        wasserstein_spread=distance / spread,
        mean_shift=float(cur.mean() - ref.mean()) / spread,
        spread_ratio=current_spread / spread,
    )


def _spread_or_zero(values: np.ndarray) -> float:
    # A current sample that went flat (a stuck sensor) is drift to report, not an error.
    try:
        return robust_spread(values)
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class PerformanceMetrics:
    """Median forecasts and intervals scored against actuals.

    `bias` is mean(actual - median): positive when the forecasts run low. `smape` is in percent,
    0 to 200: 200/n * sum |a - f| / (|a| + |f|), a pair with a = f = 0 counting 0. `coverage` is
    the share of actuals inside [lower, upper].
    """

    n: int
    mae: float
    rmse: float
    smape: float
    bias: float
    coverage: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def performance_metrics(
    actual: Any, median: Any, lower: Any | None = None, upper: Any | None = None
) -> PerformanceMetrics:
    """Scores of forecasts against actuals, pair by pair; without an interval, coverage is NaN."""
    a, f = _sample(actual, "actual", 1), _sample(median, "median", 1)
    if a.shape != f.shape:
        raise ValueError(f"actual and median differ in length: {a.size} and {f.size}")
    error = a - f
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(np.abs(error), denominator, out=np.zeros_like(error), where=denominator > 0)
    coverage = float("nan")
    if lower is not None and upper is not None:
        lo, hi = _sample(lower, "lower", 1), _sample(upper, "upper", 1)
        if lo.shape != a.shape or hi.shape != a.shape:
            raise ValueError("lower and upper must have one value per actual")
        coverage = float(np.mean((a >= lo) & (a <= hi)))
    return PerformanceMetrics(
        n=int(a.size),
        mae=float(np.mean(np.abs(error))),
        rmse=float(np.sqrt(np.mean(error**2))),
        smape=float(200.0 * np.mean(ratio)),
        bias=float(np.mean(error)),
        coverage=coverage,
    )
