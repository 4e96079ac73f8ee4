"""The gate's origins, the scores of every model on them, and the gate's decision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.services.backtest import (
    GATE_ORIGINS,
    GateScore,
    GateScores,
    gate_origins,
    gate_span,
    judge,
    score_for_gate,
)
from model.line_model import FittedLineModel


def _ramp(rows: int, slope: float = 2.0) -> pd.DataFrame:
    index = pd.date_range("2026-01-05", periods=rows, freq="h", tz="UTC", name="ts")
    return pd.DataFrame({"value": slope * np.arange(rows, dtype=float)}, index=index)


def test_origins_are_a_quarter_horizon_apart_and_end_a_horizon_before_the_data() -> None:
    frame = _ramp(1000)
    origins = gate_origins(frame, horizon=24, spare_rows=1000)
    positions = [frame.index.get_loc(origin) for origin in origins]
    assert len(positions) == GATE_ORIGINS
    assert positions[-1] == 999 - 24 and set(np.diff(positions)) == {6}
    assert 999 - positions[0] == gate_span(24)


def test_fewer_origins_where_training_can_spare_few_rows() -> None:
    frame = _ramp(1000)
    origins = gate_origins(frame, horizon=8, spare_rows=8 + 1 + 2 * 4)
    assert [frame.index.get_loc(o) for o in origins] == [983, 985, 987, 989, 991]
    with pytest.raises(ValueError, match="no room for a backtest of 8 steps"):
        gate_origins(frame, horizon=8, spare_rows=8)


@pytest.mark.slow
def test_every_model_is_scored_on_the_same_origins_from_one_batched_pass(
    tiny_artifact: bytes, line: pd.DataFrame
) -> None:
    model = FittedLineModel.from_bytes(tiny_artifact, device="cpu")
    early = line.index[5]  # too little context before it: dropped for every model
    origins = [early, *gate_origins(line, horizon=6, spare_rows=200)]
    scores = score_for_gate(model, model, line, origins)
    assert scores.origins == len(origins) - 1 and scores.steps == 6
    # The same model as candidate and as active scores the same.
    assert scores.candidate.mse == pytest.approx(scores.active.mse)
    # The errors are those of forecasts made one origin at a time.
    errors = []
    for origin in origins[1:]:
        forecast = model.forecast(line.loc[:origin])
        actual = line["value"].reindex(forecast.stamps).to_numpy()
        errors.extend((forecast.median - actual)[np.isfinite(actual)])
    assert scores.candidate.mse == pytest.approx(np.mean(np.square(errors)))
    assert scores.naive.name == "repeat-last"
    assert 0.0 <= scores.coverage <= 1.0


def _scores(candidate: float, active: float | None, fallback: float | None = None) -> GateScores:
    return GateScores(
        origins=64,
        steps=6,
        candidate=GateScore("gru:level", candidate, candidate),
        naive=GateScore("repeat-last", 4.0, 4.0),
        fallback=None if fallback is None else GateScore("linear:level", fallback, fallback),
        active=None if active is None else GateScore("gru:level", active, active),
        coverage=0.8,
    )


@pytest.mark.parametrize(
    ("candidate", "active", "promote", "reason"),
    [
        (
            3.0,
            None,
            True,
            "first model: gru:level backtest MSE 3 beats repeating the last value (4)",
        ),
        (5.0, 3.0, False, "gru:level backtest MSE 5 does not beat repeating the last value (4)"),
        (
            3.0,
            3.05,
            False,
            "gru:level backtest MSE 3 does not beat active v7's 3.05 by the 2% margin",
        ),
        (2.9, 3.0, True, "gru:level backtest MSE 2.9 beats active v7's 3 by the 2% margin"),
        (
            3.9,
            3.5,
            False,
            "gru:level backtest MSE 3.9 does not beat active v7's 3.5 by the 2% margin",
        ),
    ],
)
def test_the_gate_needs_repeat_last_beaten_and_the_active_beaten_by_the_margin(
    candidate: float, active: float | None, promote: bool, reason: str
) -> None:
    decision = judge(_scores(candidate, active), active_version=7 if active else None, margin=0.02)
    assert (decision.promote, decision.reason) == (promote, reason)
    assert decision.serve == "gru:level"


def test_a_first_model_that_fails_is_replaced_by_another_member_or_repeat_last() -> None:
    decision = judge(_scores(5.0, None, fallback=3.5), active_version=None, margin=0.02)
    assert decision.promote and decision.serve == "linear:level"
    assert decision.reason == (
        "first model: gru:level backtest MSE 5 does not beat repeating the last value (4); "
        "serving linear:level, the best of its other candidates here (MSE 3.5)"
    )
    decision = judge(_scores(5.0, None, fallback=4.5), active_version=None, margin=0.02)
    assert decision.promote and decision.serve == "repeat-last"
    assert decision.reason.endswith("; serving repeat-last")
