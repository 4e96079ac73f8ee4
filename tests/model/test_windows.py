"""Windows must never let training read validation rows, and targets must line up."""

import numpy as np
import pytest
import torch

from model.network import pinball_loss
from model.windows import Scaling, SeriesArrays, WindowMaker


def _maker(rows: int = 100, context: int = 10, horizon: int = 3) -> WindowMaker:
    series = SeriesArrays.of(np.arange(rows, dtype=float), known=np.arange(rows) % 7)
    return WindowMaker(series, Scaling.fit(series), context, horizon, dtype=torch.float64)


def test_training_windows_stay_before_the_split() -> None:
    maker = _maker()
    starts = maker.starts(10, 60)
    assert starts.min() == 0
    assert starts.max() + 10 + 3 == 60  # the last window's horizon ends at the split


def test_validation_windows_forecast_inside_the_validation_rows() -> None:
    maker = _maker()
    starts = maker.starts(60, 100)
    assert (starts + 10 >= 60).all() and (starts + 10 + 3 <= 100).all()
    assert (starts + 10)[0] == 60


def test_batch_targets_are_the_next_values_of_each_step() -> None:
    maker = _maker()
    batch = maker.batch(np.array([5, 20]))
    scale = maker.scale
    # Step t of window 5 reads row 5 + t; its targets are rows 6 + t .. 8 + t.
    torch.testing.assert_close(batch.target[0] * scale, torch.arange(10.0, dtype=torch.float64))
    torch.testing.assert_close(
        batch.future[0, 4] * scale, torch.tensor([5.0, 6.0, 7.0], dtype=torch.float64)
    )
    assert batch.level.tolist() == [5.0, 20.0]
    assert batch.known.shape == (2, 13, 1)


def test_inputs_read_only_the_context() -> None:
    maker = _maker()
    inputs = maker.inputs(np.array([87]))  # rows 87..96; the horizon would run past the end
    assert inputs.target.shape == (1, 10)
    assert inputs.known.shape == (1, 13, 1)


def test_series_rejects_non_finite_values() -> None:
    with pytest.raises(ValueError, match="target holds NaN"):
        SeriesArrays.of(np.array([1.0, np.nan, 3.0]))
    with pytest.raises(ValueError, match="known covariates must have shape"):
        SeriesArrays(np.zeros(3), np.zeros((2, 1)), np.zeros((3, 0)))


def _gappy_maker(gap: slice) -> WindowMaker:
    series = SeriesArrays.of(np.arange(100, dtype=float))
    valid = np.ones(100, dtype=bool)
    valid[gap] = False
    return WindowMaker(series, Scaling.fit(series), 10, 3, dtype=torch.float64, valid=valid)


def test_placeholder_targets_get_zero_weight() -> None:
    maker = _gappy_maker(slice(20, 22))
    batch = maker.batch(np.array([10]))  # rows 10..22; step t forecasts rows 11+t .. 13+t
    expected = np.array(
        [[0.0 if 20 <= 11 + t + h < 22 else 1.0 for h in range(3)] for t in range(10)]
    )
    np.testing.assert_array_equal(batch.weight[0].numpy(), expected)


def test_windows_mostly_in_a_gap_are_not_used() -> None:
    maker = _gappy_maker(slice(40, 45))  # 5 of a 13-row window is 38 % > 25 %
    starts = maker.usable_starts(maker.starts(10, 100))
    holding_the_whole_gap = [s for s in range(28, 45) if s + 13 >= 45 and s <= 40]
    assert not set(holding_the_whole_gap) & set(starts.tolist())
    # Windows holding 3 placeholder rows (23 %) are still used.
    assert 30 in starts and 42 in starts
    assert 31 not in starts


def test_weighted_pinball_loss_ignores_zero_weight_targets() -> None:
    quantiles = torch.tensor([0.1, 0.5, 0.9])
    forecast = torch.zeros(2, 3)
    actual = torch.tensor([1.0, 1000.0])
    weighted = pinball_loss(forecast, actual, quantiles, torch.tensor([1.0, 0.0]))
    assert weighted.item() == pytest.approx(
        pinball_loss(forecast[:1], actual[:1], quantiles).item()
    )
