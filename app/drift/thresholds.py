"""Warn and alert thresholds for drift metrics: documented defaults, and per-series calibration.

Each metric is judged in one direction: "above" alerts once the value reaches the alert
threshold (PSI, distances), "below" once it falls to it (a p-value, interval coverage).

The defaults, with where each figure comes from:

| metric          | warn  | alert | source                                                       |
|-----------------|-------|-------|--------------------------------------------------------------|
| psi             | 0.1   | 0.2   | credit-scoring convention (Siddiqi 2006; Yurdakul 2018):     |
|                 |       |       | < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 significant      |
| ks_pvalue       | 0.05  | 0.01  | conventional significance levels (NannyML and Evidently      |
|                 |       |       | alert at p < 0.05)                                           |
| ks_statistic    | D(.05)| D(.01)| the KS critical values c(a) * sqrt((n + m) / (n m)),         |
|                 |       |       | c = 1.358, 1.628 (Smirnov's asymptotic distribution)         |
| wasserstein     | 0.1   | 0.2   | in reference-spread units; Evidently's default drift         |
|                 |       |       | threshold for the normed Wasserstein distance is 0.1         |
| mean_shift      | 0.5   | 0.8   | |shift| in reference-spread units: Cohen's (1988) medium and  |
|                 |       |       | large effect sizes d = 0.5 and 0.8                           |
| spread_ratio    | 1.5   | 2.0   | max(r, 1/r) of the robust spreads; a rule of thumb (no       |
|                 |       |       | published convention): calibrate                             |
| stationarity    | 0.463 | 0.739 | KPSS level statistic; its 5 % and 1 % critical values        |
|                 |       |       | (Kwiatkowski et al. 1992, table 1)                           |
| *_ratio         | 1.5   | 2.0   | error over the model's validation error (step for step):     |
| (mae, rmse,     |       |       | 50 % / 100 % worse than validated; a retraining trigger      |
|  smape)         |       |       | common in MLOps practice, not a published standard           |
| bias_ratio      | 0.5   | 1.0   | |bias| over the validation MAE: half of / all of the typical |
|                 |       |       | error is systematic                                          |
| coverage_ratio  | 0.75  | 0.5   | interval coverage down by a quarter / by half from           |
|                 |       |       | validation (a tiny model may cover 0.3, not the nominal 0.8) |
| coverage        | 0.6   | 0.4   | without a validation figure: the same fractions of the       |
|                 |       |       | nominal 0.8 of the q0.1-q0.9 interval                        |

Raw MAE, RMSE, sMAPE and coverage are judged by their ratio's thresholds times the validation
figure, so a chart of them can draw the lines in the series' units.

Fixed thresholds assume independent draws and large samples. A production series is
autocorrelated (a week of hourly AR(1) noise with phi = 0.8 holds about 20 independent
readings, not 168) and has weekly patterns, so on it fixed thresholds raise false alarms.
Calibration, as NannyML does with chunks: cut the series' own reference period into windows of
the monitoring window's size, compute each metric for each window against the rest of the
reference, and put warn and alert at high quantiles of that no-drift distribution (3 and 5
standard deviations beyond its mean; for a p-value, on the -log10 scale). A reference shorter
than `CALIBRATION_MIN_WINDOWS` windows falls back to the defaults, and each stored metric
records which thresholds judged it.

Precedence: a threshold set in LINECAST_DRIFT_THRESHOLDS, then the calibrated one (when
calibration is on and possible), then the default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Direction = Literal["above", "below"]
Status = Literal["ok", "warn", "alert", "unknown"]
ThresholdSource = Literal["default", "calibrated", "setting"]

# Where warn and alert go in the no-drift distribution, in its standard deviations beyond its
# mean: the 99.87th and 99.99997th percentiles of a normal distribution. 3 is NannyML's default
# (`StandardDeviationThreshold`). 10 overlapping chunks of a month's reference hold about 3
# independent ones, so their spread is underestimated: with alert at 4 the bench
# (`bench/drift.py`) alerted on 2 of 6 quiet weeks; at 5 on 2 of 30, while detecting every
# 10 % level shift (10 of 10) and 9 of 10 shifts of 5 %. See `thresholds_from_null` for why
# not empirical quantiles.
WARN_SIGMAS = 3.0
ALERT_SIGMAS = 5.0
# Chunks are windows of the monitoring window's size, a quarter window apart: more chunks than
# disjoint windows give, at the price of correlated ones.
CHUNK_STRIDE_FRACTION = 0.25
CALIBRATION_MIN_WINDOWS = 3
# Smirnov's asymptotic critical values of the two-sample KS statistic at alpha 0.05 and 0.01.
_KS_C = (1.358, 1.628)
_STATUS_RANK: dict[Status, int] = {"unknown": 0, "ok": 1, "warn": 2, "alert": 3}


@dataclass(frozen=True)
class Threshold:
    """Where a metric turns warn and alert, which side is bad, and where the figures came from."""

    warn: float
    alert: float
    direction: Direction
    source: ThresholdSource = "default"
    note: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.warn) and math.isfinite(self.alert)):
            raise ValueError(f"thresholds must be finite; got warn {self.warn}, alert {self.alert}")
        if self.direction == "above" and self.warn > self.alert:
            raise ValueError(
                f"warn {self.warn:g} must not exceed alert {self.alert:g} (high values alert)"
            )
        if self.direction == "below" and self.warn < self.alert:
            raise ValueError(
                f"warn {self.warn:g} must not be below alert {self.alert:g} (low values alert)"
            )

    def judge(self, value: float | None) -> Status:
        """ "unknown" for a value that could not be computed (None or NaN)."""
        if value is None or math.isnan(value):
            return "unknown"
        sign = 1.0 if self.direction == "above" else -1.0
        if sign * value >= sign * self.alert:
            return "alert"
        if sign * value >= sign * self.warn:
            return "warn"
        return "ok"


def _default(warn: float, alert: float, direction: Direction, note: str) -> Threshold:
    return Threshold(warn, alert, direction, "default", note)


DEFAULTS: dict[str, Threshold] = {
    "psi": _default(0.1, 0.2, "above", "credit-scoring convention (Siddiqi 2006; Yurdakul 2018)"),
    "ks_pvalue": _default(0.05, 0.01, "below", "conventional significance levels"),
    "wasserstein": _default(0.1, 0.2, "above", "Evidently's normed Wasserstein threshold 0.1"),
    "mean_shift": _default(0.5, 0.8, "above", "Cohen (1988) medium and large effect sizes"),
    "spread_ratio": _default(1.5, 2.0, "above", "rule of thumb: spread up or down by 1.5x, 2x"),
    "stationarity": _default(
        0.463, 0.739, "above", "KPSS 5 % and 1 % critical values (Kwiatkowski et al. 1992)"
    ),
    "mae_ratio": _default(1.5, 2.0, "above", "50 % / 100 % worse than the backtest"),
    "rmse_ratio": _default(1.5, 2.0, "above", "50 % / 100 % worse than the backtest"),
    "smape_ratio": _default(1.5, 2.0, "above", "50 % / 100 % worse than the backtest"),
    "bias_ratio": _default(0.5, 1.0, "above", "|bias| as a share of the backtest MAE"),
    "coverage": _default(0.6, 0.4, "below", "nominal 0.8 of the q0.1-q0.9 interval"),
    "coverage_ratio": _default(0.75, 0.5, "below", "coverage down by a quarter, by half"),
}
# Thresholds that depend on the sample sizes; overridable like the others.
SIZED_DEFAULTS = ("ks_statistic",)
KNOWN_METRICS = (*DEFAULTS, *SIZED_DEFAULTS)
P_VALUE_METRICS = ("ks_pvalue",)
DIRECTIONS: dict[str, Direction] = {
    **{name: threshold.direction for name, threshold in DEFAULTS.items()},
    "ks_statistic": "above",
}


def ks_critical(n_reference: int, n_current: int) -> Threshold:
    """The KS statistic's critical values at alpha 0.05 (warn) and 0.01 (alert) for these sizes."""
    scale = math.sqrt((n_reference + n_current) / (n_reference * n_current))
    return _default(_KS_C[0] * scale, _KS_C[1] * scale, "above", "KS critical values")


def check_overrides(overrides: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """LINECAST_DRIFT_THRESHOLDS as {metric: (warn, alert)}; ValueError naming what is wrong."""
    checked = {}
    for metric, pair in overrides.items():
        if metric not in DIRECTIONS:
            known = ", ".join(sorted(DIRECTIONS))
            raise ValueError(f"unknown drift metric {metric!r} in the thresholds; known: {known}")
        warn, alert = (float(v) for v in pair)
        try:
            Threshold(warn, alert, DIRECTIONS[metric], "setting")
        except ValueError as error:
            raise ValueError(f"drift threshold {metric}: {error}") from None
        checked[metric] = (warn, alert)
    return checked


def overridden(metric: str, overrides: Mapping[str, tuple[float, float]]) -> Threshold | None:
    if metric not in overrides:
        return None
    warn, alert = overrides[metric]
    return Threshold(warn, alert, DIRECTIONS[metric], "setting", "LINECAST_DRIFT_THRESHOLDS")


def default_for(metric: str, n_reference: int = 0, n_current: int = 0) -> Threshold:
    if metric == "ks_statistic":
        return ks_critical(n_reference, n_current)
    return DEFAULTS[metric]


def worst(statuses: list[Status]) -> Status | None:
    """alert > warn > ok > unknown; None for no statuses."""
    return max(statuses, key=_STATUS_RANK.__getitem__, default=None)


# -- calibration -----------------------------------------------------------------------------

ChunkStatistic = Callable[[np.ndarray, np.ndarray], dict[str, float]]


@dataclass(frozen=True)
class Calibration:
    """Per-metric thresholds from a reference's chunks, or why there are none.

    `null` holds each metric's values over the chunks (the no-drift distribution).
    """

    chunk_size: int
    chunks: int
    thresholds: dict[str, Threshold]
    null: dict[str, list[float]]
    reason: str = ""

    def describe(self, metric: str) -> dict[str, Any]:
        """What to record in a stored metric's details about its calibration."""
        if metric not in self.thresholds:
            return {"calibrated": False, "reason": self.reason or "not calibrated"}
        values = np.asarray(self.null[metric])
        return {
            "calibrated": True,
            "chunks": self.chunks,
            "chunk_size": self.chunk_size,
            "null_median": float(np.median(values)),
            "null_max": float(values.max()),
            "null_min": float(values.min()),
        }


def chunk_starts(length: int, size: int) -> list[int]:
    """Start positions of windows of `size` over `length` values, a quarter window apart, the
    last one ending at the end."""
    if size < 1 or length < size:
        return []
    stride = max(1, int(size * CHUNK_STRIDE_FRACTION))
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def calibrate(
    reference: np.ndarray,
    size: int,
    statistic: ChunkStatistic,
    directions: Mapping[str, Direction] = DIRECTIONS,
    min_windows: int = CALIBRATION_MIN_WINDOWS,
) -> Calibration:
    """Thresholds from `statistic(chunk, rest)` over the reference's chunks of `size` values.

    `rest` is the reference without the chunk, as the monitored window is not part of the
    reference it is compared with. A metric the statistic leaves NaN in some chunk is not
    calibrated (its chunks do not describe it).
    """
    reference = np.asarray(reference, dtype=float)
    if size < 2 or reference.size < min_windows * size:
        reason = (
            f"the reference holds {reference.size} values; calibration needs {min_windows} "
            f"windows of {size}"
        )
        return Calibration(size, 0, {}, {}, reason)
    null: dict[str, list[float]] = {}
    starts = chunk_starts(reference.size, size)
    for start in starts:
        chunk = reference[start : start + size]
        rest = np.concatenate((reference[:start], reference[start + size :]))
        for metric, value in statistic(chunk, rest).items():
            null.setdefault(metric, []).append(value)
    thresholds = {}
    for metric, values in null.items():
        array = np.asarray(values, dtype=float)
        if metric in directions and np.isfinite(array).all():
            threshold = thresholds_from_null(
                array, directions[metric], p_value=metric in P_VALUE_METRICS
            )
            if threshold is not None:
                thresholds[metric] = threshold
    return Calibration(size, len(starts), thresholds, null)


def thresholds_from_null(
    values: np.ndarray, direction: Direction, p_value: bool = False
) -> Threshold | None:
    """Warn and alert at high (for "below": low) quantiles of a no-drift distribution:
    `WARN_SIGMAS` and `ALERT_SIGMAS` standard deviations beyond the mean of its values. None
    when they do not vary.

    Parametric on purpose: 10 to 30 overlapping chunks cannot resolve a 99th percentile
    empirically (the largest chunk value is about it); on simulated lines, data drift judged
    at the empirical 95th / 99th percentiles alerted on a quiet week for 30 % of 40 seeds,
    at mean + 3 / 4 sd for 5 %.
    A p-value's no-drift values spread over orders of magnitude: it is calibrated on -log10(p)
    (an "above" scale there), where they are closer to normal.
    """
    x = -np.log10(np.clip(values, 1e-300, 1.0)) if p_value else np.asarray(values, dtype=float)
    mean, sigma = float(x.mean()), float(x.std(ddof=1))
    if not sigma > 0:
        return None
    sign = -1.0 if direction == "below" and not p_value else 1.0
    warn, alert = mean + sign * WARN_SIGMAS * sigma, mean + sign * ALERT_SIGMAS * sigma
    if p_value:
        warn, alert = 10.0**-warn, 10.0**-alert
    scale = "-log10 of " if p_value else ""
    note = (
        f"mean {'-' if sign < 0 else '+'} {WARN_SIGMAS:g} / {ALERT_SIGMAS:g} sd of the "
        f"{scale}values of {values.size} reference chunks"
    )
    return Threshold(float(warn), float(alert), direction, "calibrated", note)


def choose(
    metric: str,
    *,
    overrides: Mapping[str, tuple[float, float]],
    calibration: Calibration | None,
    n_reference: int = 0,
    n_current: int = 0,
) -> Threshold:
    """The threshold that judges `metric`: a setting, else a calibrated one, else the default."""
    setting = overridden(metric, overrides)
    if setting is not None:
        return setting
    if calibration is not None and metric in calibration.thresholds:
        return calibration.thresholds[metric]
    return default_for(metric, n_reference, n_current)
