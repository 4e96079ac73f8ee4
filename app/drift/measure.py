"""Drift metrics measured and judged from data already loaded: samples, residuals, forecast pairs.

No database here: `app.services.drift` loads the window, the reference, the predictions and the
model, and stores what these functions return. Each returns `Measured` items, one per metric,
with the threshold that judged it and, in `details`, what a reader needs to trust the figure
(sample sizes, the baseline, which thresholds and why). A metric that cannot be computed is
still returned, with value None and the reason, so a stored run always says what it could not
judge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.db.models import DriftKind
from app.db.models import DriftStatus as Status
from app.drift.statistics import (
    PerformanceMetrics,
    SampleComparison,
    compare_samples,
    performance_metrics,
)
from app.drift.thresholds import Calibration, Threshold, calibrate, choose
from model.line_model import FittedLineModel
from preprocessing.pipeline import PreprocessingError
from preprocessing.stationarity import assess_stationarity, kpss

DISTRIBUTION_METRICS = (
    "psi",
    "ks_statistic",
    "ks_pvalue",
    "wasserstein",
    "mean_shift",
    "spread_ratio",
)
# Raw scores, then the same as ratios to the validation's (bias: |bias| over its MAE).
PERFORMANCE_METRICS = ("mae", "rmse", "smape", "bias", "coverage")
RATIO_METRICS = ("mae_ratio", "rmse_ratio", "smape_ratio", "bias_ratio", "coverage_ratio")


@dataclass(frozen=True)
class Measured:
    """One metric computed (or not: `value` None, the reason in `details`), not yet stored."""

    kind: DriftKind
    metric: str
    value: float | None
    threshold: Threshold | None
    details: dict[str, Any]

    @property
    def status(self) -> Status:
        """ "unknown" without a value; "ok" for a measurement no threshold judges (bias)."""
        if self.value is None:
            return "unknown"
        return self.threshold.judge(self.value) if self.threshold else "ok"


@dataclass(frozen=True)
class Judging:
    """How to judge: the fewest values a metric needs, whether to calibrate, fixed thresholds
    (`Settings.drift_min_points`, `drift_calibrate`, `drift_thresholds`)."""

    min_points: int
    calibrate: bool
    overrides: Mapping[str, tuple[float, float]]


# -- distributions ---------------------------------------------------------------------------


def measure_distribution(
    kind: DriftKind,
    reference: np.ndarray,
    current: np.ndarray,
    judging: Judging,
    details: dict[str, Any],
) -> list[Measured]:
    """PSI, KS, Wasserstein, mean shift and spread ratio of `current` against `reference`,
    with thresholds calibrated on chunks of `reference` the size of `current`."""
    if min(reference.size, current.size) < judging.min_points:
        reason = (
            f"{current.size} values in the window and {reference.size} in the baseline; "
            f"each needs at least {judging.min_points}"
        )
        return [unknown(kind, name, reason, details) for name in DISTRIBUTION_METRICS]
    try:
        comparison = compare_samples(reference, current)
    except ValueError as error:
        return [unknown(kind, name, str(error), details) for name in DISTRIBUTION_METRICS]
    calibration = calibrate(reference, current.size, _compare_chunk) if judging.calibrate else None
    judged = comparison.judged()
    details = {**details, "comparison": comparison.to_dict()}
    return [
        _judged(kind, name, judged[name], judging, calibration, details, comparison)
        for name in DISTRIBUTION_METRICS
    ]


def _compare_chunk(chunk: np.ndarray, rest: np.ndarray) -> dict[str, float]:
    try:
        return compare_samples(rest, chunk).judged()
    except ValueError:  # a constant stretch of the reference
        return dict.fromkeys(DISTRIBUTION_METRICS, math.nan)


# -- stationarity ----------------------------------------------------------------------------


def measure_stationarity(
    model: FittedLineModel,
    window: pd.DataFrame,
    reference: pd.DataFrame,
    judging: Judging,
    details: dict[str, Any],
) -> list[Measured]:
    """The KPSS level statistic (H0: level-stationary) of the window's residuals, judged, with
    the preprocessing tests' verdict on them beside the training verdict in `details`.

    Residuals are the readings through the model's own fitted pipeline (cleaned, seasons and
    trend removed, scaled): what the network reads, and what was stationary at training.
    """
    pipeline = model.pipeline
    try:
        recent = residuals(model, window)
        report = assess_stationarity(
            recent, alpha=pipeline.config.alpha, min_length=max(judging.min_points, 11)
        )
    except (PreprocessingError, ValueError) as error:
        return [unknown("stationarity", "stationarity", str(error), details)]
    details = {
        **details,
        "verdict": report.verdict,
        "verdict_reason": report.reason,
        "changed": report.verdict != details.get("training_verdict"),
        "residual_points": int(recent.size),
    }
    if report.kpss_level is None:
        return [unknown("stationarity", "stationarity", report.reason, details)]
    calibration = None
    if judging.calibrate:
        try:
            null = residuals(model, reference)
        except (PreprocessingError, ValueError):  # too little reference: the defaults judge
            null = np.array([])
        calibration = calibrate(null, recent.size, _kpss_chunk)
    value = report.kpss_level.statistic
    return [_judged("stationarity", "stationarity", value, judging, calibration, details)]


def residuals(model: FittedLineModel, frame: pd.DataFrame) -> np.ndarray:
    """The finite values of `frame["value"]` cleaned and transformed by the line's pipeline
    (its stationarity verdict is the one the version records, whichever candidate serves)."""
    pipeline = model.pipeline
    z = pipeline.transform(pipeline.clean(frame["value"])).to_numpy(dtype=float)
    return z[np.isfinite(z)]


def _kpss_chunk(chunk: np.ndarray, _rest: np.ndarray) -> dict[str, float]:
    return {"stationarity": kpss(chunk, "c").statistic}


# -- performance -----------------------------------------------------------------------------


def forecast_pairs(
    model: FittedLineModel, frame: pd.DataFrame, origins: Sequence[int]
) -> pd.DataFrame:
    """The model's forecasts from the given origins (positions in `frame`), all in one batched
    pass, scored: one row per forecast step with an actual in `frame`. Columns: position (of
    the actual in `frame`), step, median, lower, upper, actual. An origin whose context lies in
    a stop is skipped, as the service refuses it.
    """
    columns = ["position", "step", "median", "lower", "upper", "actual"]
    if len(origins) == 0:
        return pd.DataFrame(columns=columns)
    many = model.forecast_many(frame, frame.index[list(origins)])
    pairs = many.scored(frame["value"])
    pairs["position"] = frame.index.get_indexer(pd.DatetimeIndex(pairs["ts"]))
    return pairs.loc[pairs["position"] >= 0, columns].reset_index(drop=True)


def measure_performance(
    pairs: pd.DataFrame,
    validation: pd.DataFrame,
    judging: Judging,
    details: dict[str, Any],
) -> list[Measured]:
    """Scores of the served forecast steps whose actuals arrived (`pairs`: step, median,
    lower, upper, actual), raw and as ratios to the model's own validation scores
    (`validation`: its backtest's steps, from `forecast_pairs`), matched step for step: a
    window served mostly one-step forecasts is held to the backtest's one-step figure.

    Judged by the defaults (or settings): a backtest is one stretch of data, with no chunks
    to calibrate on. Raw MAE, RMSE, sMAPE and coverage are judged by their ratio's thresholds
    in their own units; the signed bias is a measurement only, judged through `bias_ratio`
    (|bias| over the validation MAE).
    """
    names = (*PERFORMANCE_METRICS, *RATIO_METRICS)
    if len(pairs) < judging.min_points:
        reason = (
            f"{len(pairs)} forecast steps with actuals in the window; at least "
            f"{judging.min_points} are needed"
        )
        return [unknown("performance", name, reason, details) for name in names]
    scores = _scores(pairs).to_dict()
    if validation.empty:
        details = {**details, "scores": scores}
        reason = "no validation scores to compare with"
        nominal = choose("coverage", overrides=judging.overrides, calibration=None)
        raw = [
            with_threshold(
                "performance", name, scores[name], nominal if name == "coverage" else None, details
            )
            for name in PERFORMANCE_METRICS
        ]
        return raw + [unknown("performance", name, reason, details) for name in RATIO_METRICS]
    expected = _step_matched(validation, pairs["step"])
    ratios = _ratios(scores, expected)
    details = {**details, "scores": scores, "validation_scores": expected}
    measured = []
    for name in PERFORMANCE_METRICS:
        threshold = None
        if name != "bias" and expected[name] > 0:
            ratio = choose(f"{name}_ratio", overrides=judging.overrides, calibration=None)
            threshold = _scaled(ratio, expected[name])
        measured.append(with_threshold("performance", name, scores[name], threshold, details))
    for name in RATIO_METRICS:
        measured.append(_judged("performance", name, ratios[name], judging, None, details))
    return measured


def _scores(pairs: pd.DataFrame) -> PerformanceMetrics:
    return performance_metrics(pairs["actual"], pairs["median"], pairs["lower"], pairs["upper"])


def _step_matched(reference_pairs: pd.DataFrame, steps: pd.Series) -> dict[str, float]:
    """The validation's scores, each step weighted as often as it occurs in `steps` (steps
    it has no score for are left out)."""
    weights = steps.value_counts(normalize=True)
    per_step = {step: _scores(group).to_dict() for step, group in reference_pairs.groupby("step")}
    weights = weights.loc[[step for step in weights.index if step in per_step]]
    weights = weights / weights.sum()
    expected = {
        name: float(sum(w * per_step[step][name] for step, w in weights.items()))
        for name in ("mae", "smape", "bias", "coverage")
    }
    expected["rmse"] = math.sqrt(
        sum(w * per_step[step]["rmse"] ** 2 for step, w in weights.items())
    )
    expected["n"] = len(reference_pairs)
    return expected


def _ratios(scores: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    def ratio(value: float, figure: float) -> float:
        return value / figure if figure > 0 else math.nan

    return {
        "mae_ratio": ratio(scores["mae"], reference["mae"]),
        "rmse_ratio": ratio(scores["rmse"], reference["rmse"]),
        "smape_ratio": ratio(scores["smape"], reference["smape"]),
        "bias_ratio": ratio(abs(scores["bias"]), reference["mae"]),
        "coverage_ratio": ratio(scores["coverage"], reference["coverage"]),
    }


def _scaled(ratio: Threshold, figure: float) -> Threshold:
    """A ratio's thresholds in the metric's own units."""
    note = f"{ratio.warn:.3g} / {ratio.alert:.3g} times the validation's {figure:.6g}"
    return Threshold(ratio.warn * figure, ratio.alert * figure, ratio.direction, ratio.source, note)


# -- items -----------------------------------------------------------------------------------


def _judged(
    kind: DriftKind,
    metric: str,
    value: float,
    judging: Judging,
    calibration: Calibration | None,
    details: dict[str, Any],
    comparison: SampleComparison | None = None,
) -> Measured:
    threshold = choose(
        metric,
        overrides=judging.overrides,
        calibration=calibration,
        n_reference=comparison.n_reference if comparison else 0,
        n_current=comparison.n_current if comparison else 0,
    )
    if calibration is not None:
        details = {**details, "calibration": calibration.describe(metric)}
    return with_threshold(kind, metric, value, threshold, details)


def with_threshold(
    kind: DriftKind,
    metric: str,
    value: float,
    threshold: Threshold | None,
    details: dict[str, Any],
) -> Measured:
    """An item judged by `threshold` (None: a measurement only); a non-finite value becomes
    None, with the reason."""
    if threshold is not None:
        details = {**details, "thresholds": {"source": threshold.source, "note": threshold.note}}
    if not math.isfinite(value):
        return unknown(kind, metric, "not a finite number (a zero backtest figure?)", details)
    return Measured(kind, metric, float(value), threshold, details)


def unknown(kind: DriftKind, metric: str, reason: str, details: dict[str, Any]) -> Measured:
    return Measured(kind, metric, None, None, {**details, "reason": reason})
