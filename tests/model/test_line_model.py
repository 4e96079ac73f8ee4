"""The line model end to end: preprocessing, mode choice, training, forecasts in plant units."""

import numpy as np
import pandas as pd
import pytest

from app.simulator import KNOWN_COVARIATES, LineConfig, simulate_line
from model.line_model import LineModel, LineSpec
from model.network import NetworkConfig
from model.trainer import TrainConfig
from preprocessing.calendar import CalendarConfig
from preprocessing.pipeline import PipelineConfig, PreprocessingError

HORIZON = 12


def _model(spec: LineSpec) -> LineModel:
    return LineModel(
        spec,
        NetworkConfig(horizon=HORIZON, hidden=16, layers=1),
        TrainConfig(context=48, max_epochs=2, steps_per_epoch=8, seed=0),
        device="cpu",
    )


@pytest.fixture(scope="module")
def line() -> pd.DataFrame:
    return simulate_line(LineConfig(days=30, covariates=True), seed=2)


@pytest.fixture(scope="module")
def fitted(line: pd.DataFrame) -> LineModel:
    spec = LineSpec(
        "throughput",
        known=KNOWN_COVARIATES,
        observed=("motor_current",),
        calendar=CalendarConfig(timezone="Europe/Berlin", shift_starts=(6, 14, 22)),
    )
    return _model(spec).fit(line.iloc[:-HORIZON])


def test_auto_mode_follows_the_preprocessing_verdict(fitted: LineModel) -> None:
    report = fitted.pipeline.report
    assert fitted.mode.requested == "auto"
    assert fitted.mode.used == report.recommended_mode == "dsf"
    assert fitted.mode.reason == report.dsf_verdict
    assert fitted.forecaster.train_config.mode == "dsf"
    # Three user columns plus 5 calendar columns and 3 shift columns are known inputs.
    assert fitted.network_config.known == 3 + 5 + 3
    assert fitted.network_config.observed == 1


def test_forecast_is_in_plant_units_with_ordered_quantiles(
    fitted: LineModel, line: pd.DataFrame
) -> None:
    history, future = line.iloc[:-HORIZON], line.iloc[-HORIZON:]
    forecast = fitted.forecast(history, future[list(KNOWN_COVARIATES)])
    values = forecast.values
    assert list(values.columns) == ["q0.1", "q0.5", "q0.9"]
    assert values.index[0] == history["throughput"].dropna().index[-1] + pd.Timedelta(hours=1)
    assert len(values) == HORIZON and (np.diff(values.to_numpy(), axis=1) >= 0).all()
    # A line making ~100 units/h is forecast near that level, not in the scaled space (~0).
    assert 50 < values["q0.5"].median() < 200


def test_saved_model_forecasts_identically(fitted: LineModel, line: pd.DataFrame) -> None:
    history, future = line.iloc[:-HORIZON], line.iloc[-HORIZON:][list(KNOWN_COVARIATES)]
    restored = LineModel.from_bytes(fitted.to_bytes(), device="cpu")
    assert restored.mode == fitted.mode and restored.spec == fitted.spec
    pd.testing.assert_frame_equal(
        restored.forecast(history, future).values, fitted.forecast(history, future).values
    )


def test_missing_future_plan_and_gappy_context_are_refused(
    fitted: LineModel, line: pd.DataFrame
) -> None:
    history = line.iloc[:-HORIZON]
    with pytest.raises(PreprocessingError, match="give them for the 12 forecast steps"):
        fitted.forecast(history, None)
    gappy = history.copy()
    gappy.iloc[-40:-2, gappy.columns.get_loc("throughput")] = np.nan
    with pytest.raises(PreprocessingError, match=r"of the last 48 steps .* are missing"):
        fitted.forecast(gappy, line.iloc[-HORIZON:][list(KNOWN_COVARIATES)])


def test_a_series_left_non_stationary_trains_with_exact_bptt() -> None:
    rng = np.random.default_rng(1)
    index = pd.date_range("2026-01-01", periods=1500, freq="h", tz="UTC")
    walk = pd.DataFrame({"y": np.cumsum(rng.normal(size=1500))}, index=index)
    spec = LineSpec("y", calendar=None, pipeline=PipelineConfig(trend="none", periods=()))
    model = _model(spec).fit(walk)
    assert model.mode.used == "bptt" and model.forecaster.train_config.mode == "bptt"
    assert model.mode.reason == "still non-stationary: use exact BPTT"
    document = LineModel.from_bytes(model.to_bytes()).mode
    assert document.used == "bptt"


def test_a_forced_mode_is_kept_and_says_so(line: pd.DataFrame) -> None:
    model = _model(LineSpec("throughput", mode="ft-bptt")).fit(line)
    assert (model.mode.used, model.mode.reason) == ("ft-bptt", "forced by configuration")
