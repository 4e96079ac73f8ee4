"""The line model end to end: preprocessing, the chosen candidate, forecasts in plant units."""

import numpy as np
import pandas as pd
import pytest

from app.simulator import KNOWN_COVARIATES, LineConfig, simulate_line
from model.config import LineModelConfig
from model.line_model import FittedLineModel, LineModel
from model.scoreboard import TIE
from preprocessing.pipeline import PreprocessingError

pytestmark = pytest.mark.slow  # the tests here fit models: seconds each

HORIZON = 12


def _config(**fields: object) -> LineModelConfig:
    return LineModelConfig(
        **{
            "horizon": HORIZON,
            "context": 48,
            "target": "throughput",
            "hidden": 16,
            "epochs": 2,
            "steps_per_epoch": 8,
            "seed": 0,
            **fields,
        }
    )


@pytest.fixture(scope="module")
def line() -> pd.DataFrame:
    return simulate_line(LineConfig(days=30, covariates=True, timezone="Europe/Berlin"), seed=2)


@pytest.fixture(scope="module")
def fitted(line: pd.DataFrame) -> FittedLineModel:
    config = _config(
        known=KNOWN_COVARIATES,
        observed=("motor_current",),
        timezone="Europe/Berlin",
        shifts=(6, 14, 22),
    )
    return LineModel(config, device="cpu").fit(line.iloc[:-HORIZON])


def test_the_candidate_table_holds_every_kind_and_the_choice(fitted: FittedLineModel) -> None:
    table = fitted.selection.candidates
    assert {row.kind for row in table} >= {"gru", "linear", "ets", "seasonal-naive", "repeat-last"}
    chosen = [row for row in table if row.status == "chosen"]
    assert [row.name for row in chosen] == [fitted.selection.chosen] == [fitted.serving]
    best = min(row.mse for row in table if row.status != "screened")
    # The lowest validation error (up to a tie), or the mean of the three best, which serves
    # unless a single candidate beats it clearly, and the reason then says so.
    combination = chosen[0].kind == "ensemble" and "the combination serves" in (
        fitted.selection.reason
    )
    assert chosen[0].mse <= best * (1 + TIE) or combination
    assert fitted.fallback in fitted.members and "repeat-last" in fitted.members
    assert fitted.selection.validation_origins >= 64


def test_the_plan_and_the_local_calendar_are_known_inputs(line: pd.DataFrame) -> None:
    config = _config(
        known=KNOWN_COVARIATES,
        observed=("motor_current",),
        timezone="Europe/Berlin",
        shifts=(6, 14, 22),
        candidates=("gru",),
        epochs=1,
    )
    model = LineModel(config, device="cpu").fit(line)
    # Three user columns, five calendar columns, three one-hot shifts.
    assert model.known_inputs[:3] == list(KNOWN_COVARIATES) and len(model.known_inputs) == 11
    assert model.network is not None
    network = model.network.forecaster.network_config
    assert (network.known, network.observed) == (11, 1)


def test_forecast_is_in_plant_units_with_ordered_quantiles(
    fitted: FittedLineModel, line: pd.DataFrame
) -> None:
    history, future = line.iloc[:-HORIZON], line.iloc[-HORIZON:]
    forecast = fitted.forecast(history, future[list(KNOWN_COVARIATES)])
    assert forecast.quantiles == (0.1, 0.5, 0.9)
    assert forecast.stamps[0] == history["throughput"].dropna().index[-1] + pd.Timedelta(hours=1)
    assert np.all(np.diff(forecast.values, axis=1) >= 0)
    assert 50 < np.median(forecast.median) < 200
    assert forecast.model == fitted.serving


def test_many_origins_forecast_as_one_at_a_time(
    fitted: FittedLineModel, line: pd.DataFrame
) -> None:
    """Up to the outlier filter's window, which in one pass over the whole frame also sees
    the six readings after an origin (a relative 1e-4 here; the origin after a stop below
    was clipped to the level before the stop until windows stopped crossing stops)."""
    stamps = line["throughput"].dropna().index
    origins = stamps[[-200, -150, -100, -60]]
    many = fitted.forecast_many(line, origins)
    assert many.usable.all()
    for i, origin in enumerate(origins):
        plan = line.loc[origin:, list(KNOWN_COVARIATES)].iloc[1 : HORIZON + 1]
        single = fitted.forecast(line.loc[:origin], plan)
        np.testing.assert_allclose(many.values[i], single.values, rtol=1e-3)
        assert many.stamps(i).equals(single.stamps)


def test_saved_model_forecasts_identically(fitted: FittedLineModel, line: pd.DataFrame) -> None:
    history, future = line.iloc[:-HORIZON], line.iloc[-HORIZON:][list(KNOWN_COVARIATES)]
    restored = FittedLineModel.from_bytes(fitted.to_bytes(), device="cpu")
    np.testing.assert_array_equal(
        restored.forecast(history, future).values, fitted.forecast(history, future).values
    )
    assert restored.selection == fitted.selection and restored.serving == fitted.serving


def test_missing_future_plan_and_gappy_context_are_refused(
    fitted: FittedLineModel, line: pd.DataFrame
) -> None:
    history = line.iloc[:-HORIZON]
    with pytest.raises(PreprocessingError, match="give them for the 12 forecast steps"):
        fitted.forecast(history)
    gappy = history.copy()
    gappy.iloc[-30:-1, gappy.columns.get_loc("throughput")] = np.nan
    with pytest.raises(PreprocessingError, match="steps before the forecast are missing"):
        fitted.forecast(gappy, line.iloc[-HORIZON:][list(KNOWN_COVARIATES)])


def test_a_forced_mode_trains_every_network_in_it(line: pd.DataFrame) -> None:
    model = LineModel(_config(mode="ft-bptt", candidates=("gru",)), device="cpu").fit(line)
    networks = [row for row in model.selection.candidates if row.kind == "gru"]
    assert networks and {row.mode for row in networks} == {"ft-bptt"}
    assert model.mode is not None and model.mode.used == "ft-bptt"
    assert model.mode.reason.endswith("mode ft-bptt forced by configuration")


def test_too_little_data_is_refused_with_the_numbers(line: pd.DataFrame) -> None:
    with pytest.raises(PreprocessingError, match="too few for context 48 and horizon 12"):
        LineModel(_config(), device="cpu").fit(line.iloc[:100])
