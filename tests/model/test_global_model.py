"""The global model: one network trained on several series forecasts each in its own units,
forecasts a series it never saw, and comes back from its checkpoint unchanged."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from model.checkpoint import save_checkpoint
from model.global_model import (
    COLD_START,
    SEEN,
    FittedGlobalModel,
    GlobalData,
    GlobalModel,
)
from model.network import UNSEEN, ForecastNetwork, NetworkConfig
from model.pooled import PooledWindows, SeriesWindows
from model.windows import Scaling, SeriesArrays, WindowMaker
from preprocessing.pipeline import PreprocessingError
from tests.model.global_series import HORIZON, daily_series, global_config

ATTRIBUTES = {"a": {"speed": 1.0, "size": 3.0}, "b": {"speed": 2.5, "size": 1.0}}


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {"a": daily_series(0, 10.0, 2.0), "b": daily_series(1, 500.0, 40.0)}


@pytest.fixture(scope="module")
def data(frames: dict[str, pd.DataFrame]) -> GlobalData:
    return GlobalModel(global_config(), device="cpu").prepare(frames, ATTRIBUTES)


@pytest.fixture(scope="module")
def fitted(data: GlobalData) -> FittedGlobalModel:
    return GlobalModel(data.config, device="cpu").train(data)


@pytest.mark.slow
def test_each_series_is_forecast_in_its_own_units(
    fitted: FittedGlobalModel, frames: dict[str, pd.DataFrame]
) -> None:
    assert fitted.keys == ("a", "b")
    for key, (low, high) in {"a": (0.0, 20.0), "b": (300.0, 700.0)}.items():
        forecast = fitted.forecast(key, frames[key])
        assert forecast.values.shape == (HORIZON, 3) and forecast.model == SEEN
        assert forecast.stamps[0] == frames[key].index[-1] + pd.Timedelta(hours=1)
        assert np.all(np.diff(forecast.values, axis=1) >= 0)
        assert forecast.median.min() > low and forecast.median.max() < high


@pytest.mark.slow
def test_many_origins_forecast_as_one_at_a_time(
    fitted: FittedGlobalModel, frames: dict[str, pd.DataFrame]
) -> None:
    frame = frames["b"]
    origins = frame.index[[100, 180, -1]]
    many = fitted.forecast_many("b", frame, origins.append(pd.DatetimeIndex([frame.index[3]])))
    # The fourth origin has three rows of context where 24 are read: not usable.
    assert many.usable.tolist() == [True, True, True, False]
    assert np.isnan(many.values[3]).all()
    for i, origin in enumerate(origins):
        single = fitted.forecast("b", frame.loc[:origin])
        # Up to the outlier filter, which in one pass over the whole frame also sees the
        # readings after an origin (as for the line model's test of the same).
        np.testing.assert_allclose(many.values[i], single.values, rtol=1e-3)


@pytest.mark.slow
def test_a_series_never_seen_is_forecast_with_neutral_inputs(fitted: FittedGlobalModel) -> None:
    new = daily_series(7, 50.0, 5.0)
    neutral = fitted.forecast("new", new)
    assert neutral.model == COLD_START and np.isfinite(neutral.values).all()
    assert neutral.median.min() > 20.0 and neutral.median.max() < 80.0
    # The training mean of every attribute is what "not given" reads.
    mean = {"speed": 1.75, "size": 2.0}
    np.testing.assert_allclose(fitted.forecast("new", new, mean).values, neutral.values)
    with pytest.raises(ValueError, match="missing \\['speed'\\]"):
        fitted.forecast("new", new, {"size": 1.0})


@pytest.mark.slow
def test_saved_model_forecasts_identically(
    fitted: FittedGlobalModel, frames: dict[str, pd.DataFrame]
) -> None:
    restored = FittedGlobalModel.from_bytes(fitted.to_bytes(), device="cpu")
    assert restored.keys == fitted.keys and restored.config == fitted.config
    for key, frame in frames.items():
        np.testing.assert_array_equal(
            restored.forecast(key, frame).values, fitted.forecast(key, frame).values
        )
    with pytest.raises(ValueError, match="not a global model"):
        FittedGlobalModel.from_bytes(_forecaster_bytes(), device="cpu")


@pytest.mark.slow
def test_the_network_reads_attributes_and_a_vector_per_series(data: GlobalData) -> None:
    network = GlobalModel(data.config, device="cpu").start(data).training.network
    assert (network.config.observed, network.config.series, network.config.embedding) == (2, 2, 2)
    assert network.embedding is not None
    plain = replace(data, config=replace(data.config, embedding=0))
    network = GlobalModel(plain.config, device="cpu").start(plain).training.network
    # No table at all, rather than one without gradients (DDP refuses unused parameters).
    assert network.embedding is None
    assert not any("embedding" in name for name, _ in network.named_parameters())


def test_an_unseen_series_reads_the_mean_vector() -> None:
    torch.manual_seed(0)
    network = ForecastNetwork(NetworkConfig(horizon=2, hidden=4, layers=1, series=3, embedding=2))
    vectors = network.series_vectors(torch.tensor([2, UNSEEN, 0]))
    table = network.embedding.weight
    torch.testing.assert_close(vectors, torch.stack([table[2], table.mean(0), table[0]]))
    with pytest.raises(ValueError, match="both be positive"):
        NetworkConfig(horizon=2, series=3)


def test_pooled_batches_keep_the_order_drawn() -> None:
    rng = np.random.default_rng(0)
    makers = []
    for index in range(2):
        series = SeriesArrays.of(rng.normal(size=60) * (index + 1) * 100)
        maker = WindowMaker(series, Scaling.fit(series), context=8, horizon=3)
        makers.append(SeriesWindows(maker, index, np.array([0.5 - index])))
    picks = np.array([[1, 5], [0, 3], [1, 0], [0, 40]])
    batch = PooledWindows(makers).batch(picks)
    assert batch.series.tolist() == [1, 0, 1, 0]
    for row, (index, start) in enumerate(picks):
        alone = makers[index].maker.batch(np.array([start]))
        torch.testing.assert_close(batch.target[row], alone.target[0])
        torch.testing.assert_close(batch.future[row], alone.future[0])
        # The static attribute is one observed column, constant over the window.
        assert (batch.observed[row, :, -1] == 0.5 - index).all()


def test_bad_input_is_refused_before_any_fitting(frames: dict[str, pd.DataFrame]) -> None:
    model = GlobalModel(global_config(), device="cpu")
    with pytest.raises(ValueError, match="no attributes for series 'b'"):
        model.prepare(frames, {"a": ATTRIBUTES["a"]})
    with pytest.raises(ValueError, match="series 'b': attributes must be exactly"):
        model.prepare(frames, {"a": ATTRIBUTES["a"], "b": {"speed": 1.0}})
    with pytest.raises(ValueError, match="no known columns"):
        global_config(known=("plan",))
    with pytest.raises(ValueError, match="other than difference"):
        global_config(trend="difference")


@pytest.mark.slow
def test_a_short_series_is_named(frames: dict[str, pd.DataFrame]) -> None:
    short = {**frames, "short": daily_series(3, 1.0, 1.0, rows=60)}
    with pytest.raises(PreprocessingError, match="series 'short': 60 rows are too few"):
        GlobalModel(global_config(), device="cpu").prepare(short)


def _forecaster_bytes() -> bytes:
    """A linecast checkpoint that is not a global model."""
    buffer = io.BytesIO()
    save_checkpoint(buffer, {}, {"model": "linecast-line-model/2"})
    return buffer.getvalue()
