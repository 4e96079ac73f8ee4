"""ADF and KPSS stationarity tests with one verdict, for series that must be stationary to train on.

The two tests have opposite null hypotheses, so they are read together:

- ADF (augmented Dickey-Fuller): H0 = the series has a unit root. Rejecting is evidence of
  stationarity.
- KPSS: H0 = the series is stationary around a level ("c") or a linear trend ("ct"). Rejecting
  is evidence of non-stationarity.

`assess_stationarity` drops NaN/inf, refuses mostly-missing input, and reports "constant" or
"insufficient data" before any test runs. Lags are clamped to what statsmodels accepts for the
series' length and passed explicitly. KPSS p-values outside statsmodels' table (0.01..0.1) are
recorded as bounds instead of being passed off as exact values.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import InterpolationWarning
from statsmodels.tsa.stattools import adfuller
from statsmodels.tsa.stattools import kpss as sm_kpss

Regression = Literal["c", "ct"]
Verdict = Literal[
    "stationary",
    "trend-stationary",
    "difference-stationary",
    "non-stationary",
    "insufficient data",
    "constant",
]
# "lower": the true p-value is above the reported one ("> 0.1"); "upper": below it ("< 0.01").
PValueBound = Literal["exact", "lower", "upper"]

ABSOLUTE_MIN_LENGTH = 10  # below this, statsmodels' lag rules leave nothing to regress on
CONSTANT_RTOL = 1e-9


@dataclass(frozen=True)
class TestResult:
    """One ADF or KPSS test; `null_hypothesis` says what rejecting (p < alpha) rules out."""

    __test__ = False  # not a pytest class, despite the name

    name: Literal["adf", "kpss"]
    regression: Regression
    statistic: float
    p_value: float
    p_value_bound: PValueBound
    lags: int
    nobs: int
    critical_values: dict[str, float]
    null_hypothesis: str

    @property
    def p_value_text(self) -> str:
        if self.p_value_bound == "upper":
            return f"< {self.p_value:g}"
        if self.p_value_bound == "lower":
            return f"> {self.p_value:g}"
        return "< 0.001" if self.p_value < 0.001 else f"{self.p_value:.3f}"

    def rejects(self, alpha: float) -> bool:
        """Whether H0 is rejected at `alpha` (within 0.01..0.1 for a bounded p-value)."""
        if self.p_value_bound == "upper":
            return self.p_value <= alpha
        return self.p_value < alpha


@dataclass(frozen=True)
class StationarityReport:
    """Both tests at level and trend, the verdict and why. Tests are None when none could run."""

    verdict: Verdict
    reason: str
    alpha: float
    n_finite: int
    missing_share: float
    adf_level: TestResult | None = None
    adf_trend: TestResult | None = None
    kpss_level: TestResult | None = None
    kpss_trend: TestResult | None = None
    adf_differenced: TestResult | None = None
    kpss_differenced: TestResult | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> StationarityReport:
        data: dict[str, Any] = json.loads(text)
        for key, value in data.items():
            if isinstance(value, dict):
                data[key] = TestResult(**value)
        return cls(**data)


def _as_array(values: Any) -> np.ndarray:
    """Return `values` as a 1-D float array (NaN/inf kept), or raise ValueError naming the issue."""
    if isinstance(values, pd.Series):
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise ValueError(f"values must be numeric; got a Series of dtype {values.dtype}")
        return values.to_numpy(dtype=float, na_value=np.nan)
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"values must be 1-D; got an array of shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"values must be numeric (int or float); got dtype {arr.dtype}")
    return arr.astype(float)


def _finite(values: Any, regression: str, name: str = "values") -> np.ndarray:
    if regression not in ("c", "ct"):
        raise ValueError(f'regression must be "c" or "ct"; got {regression!r}')
    x = _as_array(values)
    x = x[np.isfinite(x)]
    if x.size < ABSOLUTE_MIN_LENGTH:
        raise ValueError(
            f"{name} has {x.size} finite points; the tests need >= {ABSOLUTE_MIN_LENGTH}"
        )
    return x


def _schwert_lags(n: int) -> int:
    return math.ceil(12.0 * (n / 100.0) ** 0.25)


def adf(values: Any, regression: Regression = "c") -> TestResult:
    """Augmented Dickey-Fuller test. H0: the series has a unit root (is not stationary).

    The lag order is chosen by AIC up to Schwert's rule, clamped to statsmodels' limit
    ``n // 2 - ntrend - 1`` so short series do not fail.
    """
    x = _finite(values, regression)
    ntrend = {"c": 1, "ct": 2}[regression]
    maxlag = max(0, min(_schwert_lags(x.size), x.size // 2 - ntrend - 1))
    res = adfuller(x, maxlag=maxlag, regression=regression, autolag="AIC", result_object=True)
    return TestResult(
        name="adf",
        regression=regression,
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        p_value_bound="exact",
        lags=int(res.lags),
        nobs=int(res.nobs),
        critical_values={k: float(v) for k, v in res.critical_values.items()},
        null_hypothesis="unit root",
    )


def kpss(values: Any, regression: Regression = "c") -> TestResult:
    """KPSS test. H0: the series is stationary around a level ("c") or a linear trend ("ct").

    Uses Schwert's lag rule clamped below n, as statsmodels requires. statsmodels clips p-values
    to its table (0.01..0.1) and warns; the clip is recorded in `p_value_bound` instead.
    """
    x = _finite(values, regression)
    nlags = min(_schwert_lags(x.size), x.size - 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InterpolationWarning)
        res = sm_kpss(x, regression=regression, nlags=nlags, result_object=True)
    bound: PValueBound = "exact"
    for w in caught:
        if issubclass(w.category, InterpolationWarning):
            bound = "upper" if "smaller" in str(w.message) else "lower"
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    level = "level" if regression == "c" else "trend"
    return TestResult(
        name="kpss",
        regression=regression,
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        p_value_bound=bound,
        lags=int(res.lags),
        nobs=int(x.size),
        critical_values={k: float(v) for k, v in res.critical_values.items()},
        null_hypothesis=f"stationary ({level})",
    )


def _summary(*tests: TestResult) -> str:
    return ", ".join(f"{t.name}({t.regression}) p {t.p_value_text}" for t in tests)


def assess_stationarity(
    values: Any,
    *,
    alpha: float = 0.05,
    min_length: int = 30,
    max_missing_share: float = 0.5,
) -> StationarityReport:
    """Classify a series from ADF (H0: unit root) and KPSS (H0: stationary), at level and trend.

    NaN/inf are dropped first (the gap is closed, not interpolated); more than
    `max_missing_share` of them raises ValueError. Then, in order:

    - fewer than `min_length` finite points -> "insufficient data";
    - std within a relative 1e-9 of the mean level (or exactly 0) -> "constant";
    - ADF(c) rejects and KPSS(c) does not -> "stationary";
    - ADF(ct) rejects, KPSS(ct) does not, KPSS(c) does -> "trend-stationary" (detrend it);
    - ADF(c) does not reject and KPSS(c) does (unit root) -> "difference-stationary" when the
      first difference passes ADF(c) and not KPSS(c), else "non-stationary";
    - otherwise the tests conflict (both reject or neither does at level): "non-stationary".
      This is the conservative choice for a model that assumes stationarity: we never claim
      stationarity, or name a remedy, that the two tests do not agree on. The reason says so.
    """
    if not 0.01 <= alpha <= 0.1:
        # KPSS p-values are only tabulated in this range; outside it a bound decides nothing.
        raise ValueError(f"alpha must be within [0.01, 0.1]; got {alpha}")
    if min_length <= ABSOLUTE_MIN_LENGTH:  # the first difference is tested too
        raise ValueError(f"min_length must be > {ABSOLUTE_MIN_LENGTH}; got {min_length}")
    raw = _as_array(values)
    finite = np.isfinite(raw)
    x = raw[finite]
    missing = float(1.0 - finite.mean()) if raw.size else 0.0
    if missing > max_missing_share:
        raise ValueError(
            f"{missing:.0%} of values are NaN/inf, more than max_missing_share="
            f"{max_missing_share:.0%}; refusing to test what is left"
        )
    common = {"alpha": alpha, "n_finite": int(x.size), "missing_share": missing}
    dropped = f" ({raw.size - x.size} NaN/inf dropped)" if x.size < raw.size else ""
    if x.size < min_length:
        reason = f"{x.size} finite points{dropped}; at least min_length={min_length} are needed"
        return StationarityReport(verdict="insufficient data", reason=reason, **common)
    std = float(np.std(x))
    if std == 0.0 or std <= CONSTANT_RTOL * abs(float(np.mean(x))):
        reason = f"std {std:.3g} around level {np.mean(x):.6g}: constant (a stopped line?)"
        return StationarityReport(verdict="constant", reason=reason + dropped, **common)

    tests = {
        "adf_level": adf(x, "c"),
        "adf_trend": adf(x, "ct"),
        "kpss_level": kpss(x, "c"),
        "kpss_trend": kpss(x, "ct"),
    }
    adf_c, adf_ct = tests["adf_level"].rejects(alpha), tests["adf_trend"].rejects(alpha)
    kpss_c, kpss_ct = tests["kpss_level"].rejects(alpha), tests["kpss_trend"].rejects(alpha)
    level_text = _summary(tests["adf_level"], tests["kpss_level"])
    verdict: Verdict
    if adf_c and not kpss_c:
        verdict, reason = "stationary", f"ADF rejects a unit root, KPSS keeps level: {level_text}"
    elif adf_ct and not kpss_ct and kpss_c:
        verdict = "trend-stationary"
        reason = "stationary around a linear trend: " + _summary(*tests.values())
    elif not adf_c and kpss_c:
        diff = np.diff(x)
        tests["adf_differenced"], tests["kpss_differenced"] = adf(diff, "c"), kpss(diff, "c")
        diff_text = _summary(tests["adf_differenced"], tests["kpss_differenced"])
        diff_ok = tests["adf_differenced"].rejects(alpha)
        diff_ok = diff_ok and not tests["kpss_differenced"].rejects(alpha)
        verdict = "difference-stationary" if diff_ok else "non-stationary"
        reason = f"unit root ({level_text}); first difference {diff_text}"
        reason += ": differencing needed" if diff_ok else ": still not stationary"
    else:
        both = "both reject" if adf_c else "neither rejects"
        verdict = "non-stationary"
        reason = (
            f"conflicting tests at level ({both}: {level_text}); treated as non-stationary "
            "(possible structural break, changing variance or too little data to tell)"
        )
    return StationarityReport(verdict=verdict, reason=reason + dropped, **common, **tests)
