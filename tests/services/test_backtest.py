"""Backtest origins, errors of the model and of repeat-last, and the gate's decision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.services.backtest import (
    GateScores,
    backtest_mae,
    backtest_origins,
    forecastable_origins,
    judge,
    naive_mae,
)
from model.line_model import LineModel


def _ramp(rows: int, slope: float = 2.0) -> pd.DataFrame:
    index = pd.date_range("2026-01-05", periods=rows, freq="h", tz="UTC", name="ts")
    return pd.DataFrame({"value": slope * np.arange(rows, dtype=float)}, index=index)


def test_origins_tile_the_last_windows_times_horizon_observations() -> None:
    frame = _ramp(100)
    origins = backtest_origins(frame, horizon=6, windows=4)
    positions = [frame.index.get_loc(origin) for origin in origins]
    assert positions == [75, 81, 87, 93]  # the last forecast covers rows 94..99
    with pytest.raises(ValueError, match="too few for 20 backtest windows of 6 steps"):
        backtest_origins(frame, horizon=6, windows=20)


def test_repeat_last_on_a_ramp_misses_by_the_slope_times_the_step() -> None:
    frame = _ramp(50, slope=2.0)
    origins = backtest_origins(frame, horizon=3, windows=2)
    # Errors 2, 4, 6 at every origin.
    assert naive_mae(frame, origins, horizon=3) == pytest.approx(4.0)
    # A missing reading is skipped, not counted as an error of zero.
    holed = frame.drop(frame.index[-1])
    assert naive_mae(holed, origins, horizon=3, freq="h") == pytest.approx((2 + 4 + 6 + 2 + 4) / 5)


def test_model_backtest_is_the_pooled_error_of_its_medians(
    tiny_artifact: bytes, line: pd.DataFrame
) -> None:
    model = LineModel.from_bytes(tiny_artifact, device="cpu")
    origins = backtest_origins(line, horizon=6, windows=3)
    errors = []
    for origin in origins:
        median = model.forecast(line.loc[:origin]).values["q0.5"]
        errors.extend((median - line["value"].reindex(median.index)).abs().dropna())
    assert backtest_mae(model, line, origins) == pytest.approx(np.mean(errors))
    first_two = backtest_mae(model, line, origins, steps=2)
    assert first_two != pytest.approx(backtest_mae(model, line, origins))


def test_origins_without_enough_context_are_dropped_for_every_model(
    tiny_artifact: bytes, line: pd.DataFrame
) -> None:
    model = LineModel.from_bytes(tiny_artifact, device="cpu")
    too_early, fine = line.index[10], line.index[200]
    assert forecastable_origins([model], line, [too_early, fine]) == [fine]


@pytest.mark.parametrize(
    ("candidate", "active", "promote", "reason"),
    [
        (5.0, None, False, "backtest MAE 5 does not beat repeating the last value (4)"),
        (3.0, None, True, "first model: backtest MAE 3 beats repeating the last value (4)"),
        (3.0, 3.05, False, "backtest MAE 3 does not beat active v7's 3.05 by the 2% margin"),
        (2.9, 3.0, True, "backtest MAE 2.9 beats active v7's 3 by the 2% margin"),
        (3.9, 3.5, False, "backtest MAE 3.9 does not beat active v7's 3.5 by the 2% margin"),
    ],
)
def test_the_gate_needs_repeat_last_beaten_and_the_active_beaten_by_the_margin(
    candidate: float, active: float | None, promote: bool, reason: str
) -> None:
    scores = GateScores(
        origins=8, steps=6, candidate_mae=candidate, naive_mae=4.0, active_mae=active
    )
    decision = judge(scores, active_version=7 if active else None, margin=0.02)
    assert (decision.promote, decision.reason) == (promote, reason)
