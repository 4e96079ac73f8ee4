"""Cross-validation picks the candidate a series is built to favour, and says why."""

import numpy as np
import pandas as pd
import pytest

from model.config import LineModelConfig
from model.line_model import LineModel
from model.selection import earns_its_place, validation_start


def _hourly(values: np.ndarray) -> pd.DataFrame:
    index = pd.date_range("2026-01-05", periods=len(values), freq="h", tz="UTC")
    return pd.DataFrame({"value": values}, index=index)


def _config(**fields: object) -> LineModelConfig:
    return LineModelConfig(
        **{"horizon": 12, "hidden": 16, "epochs": 3, "steps_per_epoch": 20, "seed": 0, **fields}
    )


@pytest.mark.slow
def test_a_random_walk_is_forecast_from_its_differences() -> None:
    """Every input a GRU may read is offered; differencing is what the tests recommend and no
    other input does better on a random walk, so it must win (a trend would extrapolate)."""
    rng = np.random.default_rng(11)
    walk = 100 + np.cumsum(rng.normal(0, 1, 1500))
    model = LineModel(_config(candidates=("gru",), context=48), device="cpu").fit(_hourly(walk))
    chosen = model.selection.score(model.selection.chosen)
    assert chosen.representation == "difference", model.selection.candidates
    assert model.pipeline.report.trend == "difference"


@pytest.mark.slow
def test_a_strong_daily_cycle_is_forecast_with_the_seasonal_profiles() -> None:
    """The context (12 h) sees only half a day, so only the fitted daily profile tells what the
    next hours do: every candidate without it must lose."""
    rng = np.random.default_rng(12)
    hours = np.arange(24 * 60)
    cycle = 20 * np.sin(2 * np.pi * hours / 24) + 10 * np.sin(4 * np.pi * hours / 24)
    noise = np.convolve(rng.normal(0, 1, len(hours)), np.ones(3) / 3, mode="same")
    model = LineModel(_config(context=12), device="cpu").fit(_hourly(100 + cycle + noise))
    chosen = model.selection.score(model.selection.chosen)
    member = model.members[chosen.name]
    for part in getattr(member, "parts", (member,)):  # an ensemble: each of its parts
        seasonal = part.kind == "seasonal-naive" or part.representation.seasonal
        assert seasonal, model.selection.candidates
    plain = [
        row
        for row in model.selection.candidates
        if row.representation and not row.representation.startswith("seasonal+")
    ]
    assert plain and min(row.mse for row in plain) > 2 * chosen.mse


def test_validation_keeps_a_fifth_of_the_rows_and_at_least_64_origins() -> None:
    assert validation_start(10_000, horizon=24, context=168) == 8000
    assert validation_start(300, horizon=24, context=48) == 300 - (64 + 24)
    with pytest.raises(ValueError, match="too few for context 48 and horizon 24"):
        validation_start(150, horizon=24, context=48)


@pytest.mark.parametrize(
    ("gain", "error", "serves"),
    [
        (0.0006, 0.00047, False),  # 1.3 standard errors ahead: luck, the combination serves
        (0.0006, 0.00029, True),  # 2.1 standard errors and 5 % ahead: the single one serves
        (0.0002, 0.00001, False),  # far beyond its standard error, but under 2 % of the MSE
    ],
)
def test_a_single_candidate_serves_only_when_clearly_ahead_of_the_combination(
    gain: float, error: float, serves: bool
) -> None:
    assert earns_its_place(gain, error, combination_mse=0.012) is serves
