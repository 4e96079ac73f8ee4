"""Data-parallel training: the ranks' averaged gradients are one process's on the same global
batch, to float precision, and the checkpoint they write loads and forecasts in one process.

The processes are real: `model.distributed.spawn` starts them (gloo on the CPU, NCCL where two
GPUs exist), and each ends by writing what it computed to a file the test reads back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import Tensor

from model.distributed import DeviceKind, Launch, rank_device, spawn, train_rank
from model.global_model import FittedGlobalModel, GlobalData, GlobalModel
from model.shard import Shard
from tests.model.global_series import daily_series, global_config

# The ranks' shares are reduced in another order than one process sums the whole batch.
TOLERANCE = {"cpu": {"rtol": 1e-5, "atol": 1e-6}, "cuda": {"rtol": 1e-4, "atol": 1e-5}}


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    """Three series; one stops for 12 hours, so some windows hold placeholder rows (never
    scored) and the ranks' shares score different numbers of targets."""
    stopped = daily_series(2, 80.0, 8.0)
    stopped.iloc[150:162] = np.nan
    return {"a": daily_series(0, 10.0, 2.0), "b": daily_series(1, 500.0, 40.0), "c": stopped}


@pytest.fixture(scope="module")
def data(frames: dict[str, pd.DataFrame]) -> GlobalData:
    """Prepared once; seven windows a batch, so two ranks take three and four."""
    return GlobalModel(global_config(batch_size=7), device="cpu").prepare(frames)


def test_shares_cover_every_batch_once_and_evenly() -> None:
    for world in range(1, 5):
        for rows in range(12):
            shares = [range(rows)[Shard(rank, world).share(rows)] for rank in range(world)]
            assert [row for share in shares for row in share] == list(range(rows))
            assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_torchrun_environment_is_read() -> None:
    environ = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert Launch.from_env(environ) == Launch(rank=3, world=4, local_rank=1, local_world=2)
    assert Launch.from_env({}) is None


def step_gradients(data: GlobalData, device: torch.device, shard: Shard) -> dict[str, Tensor]:
    """Every parameter's gradient after one training step's backward (DDP's average with
    more than one rank).

    The head starts at zero (an untrained network repeats the last value), which would stop
    every gradient below it at exactly zero: seeded weights let this step's gradient reach the
    GRU, through its DSF backward, and the series vectors.
    """
    run = GlobalModel(data.config, device=str(device)).start(data, shard)
    head = run.training.network.head.weight
    with torch.no_grad():
        seeded = torch.randn(head.shape, generator=torch.Generator().manual_seed(1))
        head.copy_(0.3 * seeded)
    run.training.backward()
    return {name: p.grad.cpu() for name, p in run.training.network.named_parameters()}


def write_gradients(shard: Shard, device: torch.device, data: GlobalData, folder: Path) -> None:
    """One rank (a `model.distributed.Work`): its step gradients to `folder/rank<r>.pt`."""
    torch.save(step_gradients(data, device, shard), folder / f"rank{shard.rank}.pt")


def _check_two_ranks_match_one(data: GlobalData, kind: DeviceKind, folder: Path) -> None:
    spawn(2, write_gradients, (data, folder), kind)
    single = step_gradients(data, rank_device(kind, 0), Shard())
    assert "embedding.weight" in single  # the series vectors are trained under DDP too
    for rank in range(2):
        averaged = torch.load(folder / f"rank{rank}.pt", weights_only=True)
        assert averaged.keys() == single.keys()
        for name, gradient in single.items():
            assert gradient.abs().sum() > 0, name
            torch.testing.assert_close(averaged[name], gradient, **TOLERANCE[kind], msg=name)


@pytest.mark.slow
def test_two_gloo_processes_average_to_the_single_process_gradient(
    data: GlobalData, tmp_path: Path
) -> None:
    _check_two_ranks_match_one(data, "cpu", tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL needs two GPUs, one per rank")
def test_two_nccl_processes_average_to_the_single_process_gradient(
    data: GlobalData, tmp_path: Path
) -> None:
    _check_two_ranks_match_one(data, "cuda", tmp_path)


@pytest.mark.slow
def test_a_checkpoint_of_two_processes_loads_and_forecasts_in_one(
    data: GlobalData, frames: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    out = tmp_path / "global.pt"
    spawn(2, train_rank, (data, out), "cpu")
    restored = FittedGlobalModel.load(out, device="cpu")
    alone = GlobalModel(data.config, device="cpu").train(data)
    assert restored.keys == ("a", "b", "c")
    assert restored.report.steps == alone.report.steps
    for key, frame in frames.items():
        forecast = restored.forecast(key, frame)
        assert np.isfinite(forecast.values).all()
        # The same global batches, so nearly the same weights as one process.
        np.testing.assert_allclose(forecast.values, alone.forecast(key, frame).values, rtol=1e-3)
