"""The forecaster trains for real (small and fast), saves, loads and forecasts."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from model.forecaster import Forecaster
from model.network import NetworkConfig
from model.trainer import TrainConfig, learning_rate_factor
from model.windows import SeriesArrays


def _daily_series(rows: int = 900, seed: int = 0) -> SeriesArrays:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    return SeriesArrays.of(50 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, rows))


def _forecaster(mode: str = "dsf", epochs: int = 6, **training: object) -> Forecaster:
    return Forecaster(
        NetworkConfig(horizon=12, hidden=24, layers=2, dropout=0.0, tau_max=48.0),
        TrainConfig(
            mode=mode,
            context=48,
            max_epochs=epochs,
            steps_per_epoch=25,
            **{"learning_rate": 5e-3, **training},
        ),
        device="cpu",
    )


@pytest.fixture(scope="module")
def fitted() -> Forecaster:
    return _forecaster().fit(_daily_series())


@pytest.mark.slow
def test_dsf_training_beats_repeating_the_last_value(fitted: Forecaster) -> None:
    series = _daily_series(rows=1000, seed=1)
    origins = np.arange(900, 988)
    forecast = fitted.forecast_at(series, origins)[..., 1]
    truth = series.target[origins[:, None] + np.arange(12)]
    naive = np.repeat(series.target[origins - 1][:, None], 12, axis=1)
    assert np.mean((forecast - truth) ** 2) < 0.5 * np.mean((naive - truth) ** 2)


@pytest.mark.slow
def test_validation_loss_improved_and_best_epoch_kept(fitted: Forecaster) -> None:
    report = fitted.report
    assert report.validation_loss[report.best_epoch] == min(report.validation_loss)
    assert min(report.validation_loss) < report.validation_loss[0]


@pytest.mark.slow
def test_training_that_never_beats_repeating_the_last_value_is_not_kept() -> None:
    # A learning rate of 5 wrecks every epoch; on a random walk the last value is the best
    # median forecast anyway. The untrained network, which repeats it, must be what remains.
    walk = SeriesArrays.of(np.cumsum(np.random.default_rng(0).normal(size=900)))
    forecaster = _forecaster(epochs=3, learning_rate=5.0).fit(walk)
    report = forecaster.report
    assert report.best_epoch == -1
    assert min(report.validation_loss) > report.initial_validation_loss
    assert report.best_validation_loss == report.initial_validation_loss
    np.testing.assert_allclose(forecaster.predict(walk).median, walk.target[-1], rtol=1e-6)


@pytest.mark.slow
def test_save_and_load_reproduce_the_forecast(fitted: Forecaster, tmp_path: Path) -> None:
    fitted.save(tmp_path / "m.pt", extra={"column": "y"})
    loaded, extra = Forecaster.load(tmp_path / "m.pt", device="cpu")
    series = _daily_series()
    assert extra == {"column": "y"}
    np.testing.assert_allclose(loaded.predict(series).values, fitted.predict(series).values)
    assert loaded.report.steps == fitted.report.steps


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_trained_on_gpu_forecasts_on_cpu(tmp_path: Path) -> None:
    gpu = Forecaster(
        NetworkConfig(horizon=12, hidden=8, layers=1),
        TrainConfig(context=48, max_epochs=1, steps_per_epoch=2),
        device="cuda",
    )
    gpu.fit(_daily_series())
    gpu.save(tmp_path / "gpu.pt")
    cpu, _ = Forecaster.load(tmp_path / "gpu.pt", device="cpu")
    np.testing.assert_allclose(
        cpu.predict(_daily_series()).values,
        gpu.predict(_daily_series()).values,
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.slow
def test_same_seed_same_weights() -> None:
    first = _forecaster(epochs=1).fit(_daily_series())
    second = _forecaster(epochs=1).fit(_daily_series())
    for a, b in zip(first.network.parameters(), second.network.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.slow
def test_early_stopping_ends_before_max_epochs() -> None:
    # With patience 1 the first epoch without improvement ends the run.
    forecaster = _forecaster(epochs=30, patience=1).fit(_daily_series())
    assert len(forecaster.report.validation_loss) < 30


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bptt", "tbptt:8", "ft-bptt", "dsf-adaptive"])
def test_every_mode_trains(mode: str) -> None:
    forecaster = _forecaster(mode=mode, epochs=2).fit(_daily_series())
    assert forecaster.report.mode == mode
    assert np.isfinite(forecaster.report.validation_loss).all()


def test_adaptive_mode_moves_lambda_and_fixed_mode_does_not() -> None:
    fixed = _forecaster(mode="dsf", epochs=1).fit(_daily_series())
    adaptive = _forecaster(mode="dsf-adaptive", epochs=1).fit(_daily_series())
    start = type(fixed.network)(fixed.network_config).stack.feedback(0)
    torch.testing.assert_close(fixed.network.stack.feedback(0), start, rtol=0, atol=0)
    assert (adaptive.network.stack.feedback(0) - start).abs().max() > 1e-3
    assert (adaptive.network.stack.feedback(0) <= 0.99).all()


def test_too_short_series_is_refused_with_the_numbers() -> None:
    with pytest.raises(ValueError, match="50 rows are too few for context 48 and horizon 12"):
        _forecaster().fit(_daily_series(rows=50))


def test_learning_rate_warms_up_then_decays() -> None:
    factors = [learning_rate_factor(step, 100, 10) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
