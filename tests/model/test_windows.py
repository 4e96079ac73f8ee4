"""Windows must never let training read validation rows, and targets must line up."""

import numpy as np
import pytest
import torch

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
