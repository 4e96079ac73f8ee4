"""Performance judged against validation step for step, and what cannot be judged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.drift.measure import Judging, measure_distribution, measure_performance

JUDGING = Judging(min_points=30, calibrate=True, overrides={})


def _pairs(errors_by_step: dict[int, float], per_step: int) -> pd.DataFrame:
    """Forecast steps whose error is exactly `errors_by_step[step]`, interval +-1."""
    rows = []
    for step, error in errors_by_step.items():
        for i in range(per_step):
            actual = 100.0 + i
            rows.append((step, actual - error, actual - error - 1, actual - error + 1, actual))
    return pd.DataFrame(rows, columns=["step", "median", "lower", "upper", "actual"])


def test_a_window_of_short_forecasts_is_held_to_the_validation_of_short_forecasts() -> None:
    # Validation: one-step forecasts err by 1, six-step ones by 5. A window served only
    # one-step forecasts that err by 1 has not drifted, though its MAE is below the pooled 3.
    validation = _pairs({1: 1.0, 6: 5.0}, per_step=20)
    window = _pairs({1: 1.0}, per_step=40)
    measured = {m.metric: m for m in measure_performance(window, validation, JUDGING, {})}
    assert measured["mae_ratio"].value == pytest.approx(1.0)
    assert measured["mae"].value == pytest.approx(1.0)
    assert measured["mae"].threshold.alert == pytest.approx(2.0)  # 2 x the one-step MAE
    assert measured["bias"].value == pytest.approx(1.0) and measured["bias"].status == "ok"
    assert measured["bias_ratio"].value == pytest.approx(1.0)
    assert measured["bias_ratio"].status == "alert"  # all of the error is systematic
    # A window whose one-step forecasts err by 3 is three times worse than validated.
    worse = {
        m.metric: m for m in measure_performance(_pairs({1: 3.0}, 40), validation, JUDGING, {})
    }
    assert worse["mae_ratio"].value == pytest.approx(3.0)
    assert worse["mae_ratio"].status == worse["mae"].status == "alert"
    assert worse["coverage_ratio"].value == 0.0 and worse["coverage_ratio"].status == "alert"


def test_too_few_pairs_or_no_validation_leave_the_ratios_unknown() -> None:
    few = measure_performance(_pairs({1: 1.0}, 10), _pairs({1: 1.0}, 40), JUDGING, {})
    assert {m.status for m in few} == {"unknown"}
    assert few[0].details["reason"] == (
        "10 forecast steps with actuals in the window; at least 30 are needed"
    )
    alone = {
        m.metric: m for m in measure_performance(_pairs({1: 1.0}, 40), pd.DataFrame(), JUDGING, {})
    }
    assert alone["mae"].value == pytest.approx(1.0) and alone["mae"].threshold is None
    # Coverage falls back to the nominal band; each actual lies on its interval's edge (an
    # error of 1, an interval of +-1), which counts as inside: coverage 1, ok.
    assert alone["coverage"].threshold.alert == 0.4 and alone["coverage"].status == "ok"
    assert alone["mae_ratio"].status == "unknown"
    assert alone["mae_ratio"].details["reason"] == "no validation scores to compare with"


def test_a_constant_reference_is_reported_not_raised() -> None:
    measured = measure_distribution("data", np.ones(100), np.arange(50.0), JUDGING, {"n": 1})
    assert {m.status for m in measured} == {"unknown"}
    assert measured[0].details == {
        "n": 1,
        "reason": ("the sample is constant: it has no spread to measure a shift in"),
    }
