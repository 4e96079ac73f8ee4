"""The candidates' shared behaviour: the naive prior of an untrained network, storage."""

import numpy as np
import pandas as pd
import pytest
import torch

from model.config import LineModelConfig
from model.forecaster import Forecaster
from model.line_model import prepare_inputs
from model.members import Representation, member_from_document, member_to_document
from model.members.base import SeriesInputs, transformed
from model.members.ets import EtsMember
from model.members.linear import LinearMember
from model.members.network import NetworkMember, network_arrays, valid_rows
from preprocessing.pipeline import Pipeline, PipelineConfig
from preprocessing.trend import TREND_KINDS

pytestmark = pytest.mark.slow  # the tests here fit models: seconds each

HORIZON, CONTEXT = 12, 48


def _series(seed: int = 0) -> pd.Series:
    """Hourly: a daily cycle, a slow drift and AR(1) noise, with one stop."""
    rng = np.random.default_rng(seed)
    n = 24 * 40
    k = np.arange(n)
    noise = np.zeros(n)
    for t in range(1, n):
        noise[t] = 0.7 * noise[t - 1] + rng.normal(0, 0.5)
    values = 50 + 0.01 * k + 3 * np.sin(2 * np.pi * k / 24) + noise
    values[300:310] = np.nan
    index = pd.date_range("2026-03-02", periods=n, freq="h", tz="UTC")
    return pd.Series(values, index=index, name="value")


def _inputs(series: pd.Series, trend: str) -> tuple[Pipeline, SeriesInputs, LineModelConfig]:
    config = LineModelConfig(horizon=HORIZON, context=CONTEXT, trend=trend, hidden=8)
    pipeline = Pipeline(PipelineConfig(trend=trend)).fit(series)
    return pipeline, prepare_inputs(config, pipeline, series.to_frame("value")), config


def _untrained(
    rep: Representation, pipeline: Pipeline, inputs: SeriesInputs, config: LineModelConfig
) -> NetworkMember:
    arrays = network_arrays(pipeline, inputs, HORIZON)
    rows = len(inputs)
    forecaster = Forecaster(config.network(rep.anchor, 0, 0), config.training("dsf"), "cpu")
    from model.windows import SeriesArrays

    training = forecaster.start(
        SeriesArrays(arrays.target[:rows], arrays.known[:rows], arrays.observed[:rows]),
        validation_start=rows - 200,
        valid=valid_rows(pipeline, inputs),
    )
    forecaster.finish(training)  # no epoch run: the initial weights
    return NetworkMember(rep, pipeline, forecaster)


@pytest.mark.parametrize("seasonal", [False, True])
@pytest.mark.parametrize("trend", TREND_KINDS)
def test_an_untrained_network_forecasts_the_naive_forecast_of_what_it_reads(
    trend: str, seasonal: bool
) -> None:
    """Zero change for a differenced input, its last value held for any other; in plant
    units that is the trend and the seasons continued from the last reading."""
    series = _series()
    base, inputs, config = _inputs(series, trend)
    rep = Representation(seasonal, trend)
    variant = rep.fit(base, inputs, len(inputs))
    member = _untrained(rep, variant, inputs, config)
    positions = np.array([200, 400, 600, len(inputs) - 1])

    z = transformed(variant, inputs)
    held = np.zeros((len(positions), HORIZON, 1))
    if trend != "difference":
        held += z[positions][:, None, None]
    expected = variant.to_original_many(held, inputs.values[positions], inputs.steps[positions])
    forecast = member.predict(inputs, positions).median
    np.testing.assert_allclose(forecast, expected[..., 0], rtol=1e-5)
    if trend in ("none", "difference") and not seasonal:
        # Nothing to continue: the naive forecast is the last reading, repeated.
        np.testing.assert_allclose(
            forecast, np.repeat(inputs.values[positions][:, None], HORIZON, 1), rtol=1e-5
        )


def test_members_survive_their_document_unchanged() -> None:
    series = _series(seed=1)
    base, inputs, config = _inputs(series, "auto")
    rows = len(inputs) - 200
    positions = np.arange(rows, len(inputs) - HORIZON, 7)
    rep = Representation(True, "difference")
    variant = rep.fit(base, inputs, rows)
    members = [
        LinearMember.fit(rep, variant, inputs, rows, CONTEXT, HORIZON),
        EtsMember.fit(
            Representation(True, "none"),
            Representation(True, "none").fit(base, inputs, rows),
            inputs,
            rows,
            CONTEXT,
            HORIZON,
            damped=True,
        ),
        _untrained(rep, variant, inputs, config),
    ]
    for member in members:
        document, tensors = member_to_document(member)
        restored = member_from_document(document, {k: v.clone() for k, v in tensors.items()})
        assert restored.name == member.name and restored.kind == member.kind
        np.testing.assert_array_equal(
            restored.predict(inputs, positions).median, member.predict(inputs, positions).median
        )
        assert all(isinstance(v, torch.Tensor) for v in tensors.values())
