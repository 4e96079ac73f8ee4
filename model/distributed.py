"""Data-parallel training of a global model, with PyTorch's own engine.

Two ways to start the processes:

* `torchrun --nproc_per_node N -m app.cli.train_global ...`: torchrun starts them and sets RANK,
  WORLD_SIZE, LOCAL_RANK and the rendezvous address; each process joins through `env://`
  (`Launch.from_env`, `run_launched`).
* `spawn(N, work, args)` (`linecast train-global --nproc N`): this process starts N local ones
  with `torch.multiprocessing.spawn`; they meet through a file in a fresh temporary folder, so
  no free port has to be found (and raced for).

Backends: NCCL on CUDA, one process per GPU (cuda:LOCAL_RANK; spawned rank r on cuda:r), gloo
on the CPU. Each process trains its share of every global batch (`model.shard`) through a
`DistributedDataParallel` replica, which averages the gradients; the series are prepared once
before (`GlobalModel.prepare`, deterministic, so under torchrun every process prepares the
same) and only rank 0 writes the checkpoint.

CPU processes share the host's cores: each gets an equal share of torch threads, since N
processes each with a thread per core would oversubscribe them N times.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from model.device import cap_threads
from model.global_model import GlobalData, GlobalModel
from model.shard import Shard

DeviceKind = Literal["cpu", "cuda"]
# work(shard, device, *args): what each process runs once its group is up.
Work = Callable[..., None]


@dataclass(frozen=True)
class Launch:
    """This process's place as torchrun describes it: global rank, world size, and rank and
    process count on this host."""

    rank: int
    world: int
    local_rank: int
    local_world: int

    @staticmethod
    def from_env(environ: Mapping[str, str] = os.environ) -> Launch | None:
        """RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE as torchrun sets them; None
        outside torchrun (no WORLD_SIZE)."""
        if "WORLD_SIZE" not in environ:
            return None
        try:
            world = int(environ["WORLD_SIZE"])
            return Launch(
                rank=int(environ.get("RANK", "0")),
                world=world,
                local_rank=int(environ.get("LOCAL_RANK", "0")),
                local_world=int(environ.get("LOCAL_WORLD_SIZE", str(world))),
            )
        except ValueError as error:
            raise ValueError(f"torchrun's RANK or WORLD_SIZE is not a number: {error}") from error


def device_kind(requested: str) -> DeviceKind:
    """The kind of device `requested` names: "auto" is CUDA where there is a GPU, else the
    CPU (DDP has no backend for Apple's MPS)."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested not in ("cpu", "cuda"):
        raise ValueError(
            f"device must be auto, cpu or cuda for data-parallel training, got {requested!r}"
        )
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but CUDA is not available")
    return requested


def rank_device(kind: DeviceKind, local_rank: int) -> torch.device:
    """The device of the process `local_rank` on its host: its own GPU, or the CPU."""
    return torch.device("cuda", local_rank) if kind == "cuda" else torch.device("cpu")


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA tensors, gloo for CPU ones (NCCL cannot reduce CPU tensors)."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextmanager
def process_group(
    rank: int, world: int, device: torch.device, init_method: str = "env://"
) -> Iterator[Shard]:
    """Join the group of `world` processes as `rank` for the block; its `Shard`."""
    if device.type == "cuda":
        # NCCL binds each process to the current device: set it before the group exists.
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend_for(device), init_method=init_method, rank=rank, world_size=world
    )
    try:
        yield Shard(rank, world)
    finally:
        dist.destroy_process_group()


def spawn(nproc: int, work: Work, args: tuple[Any, ...] = (), kind: DeviceKind = "cpu") -> None:
    """Run `work(shard, device, *args)` in `nproc` new local processes forming one group, and
    return when all have ended; an error in one is raised here, with its traceback.

    `work` and `args` travel by pickle: `work` must be a module-level function.
    """
    if nproc < 1:
        raise ValueError(f"nproc must be positive, got {nproc}")
    if kind == "cuda" and nproc > torch.cuda.device_count():
        raise ValueError(
            f"{nproc} processes need {nproc} GPUs (one each); {torch.cuda.device_count()} found"
        )
    with tempfile.TemporaryDirectory(prefix="linecast-ddp-") as folder:
        init_method = Path(folder, "rendezvous").as_uri()
        mp.spawn(_spawned, args=(nproc, init_method, kind, work, args), nprocs=nproc, join=True)


def run_launched(
    launch: Launch, work: Work, args: tuple[Any, ...] = (), kind: DeviceKind = "cpu"
) -> None:
    """Run `work(shard, device, *args)` as the process torchrun started (`launch`)."""
    device = rank_device(kind, launch.local_rank)
    _share_cores(device, launch.local_world)
    with process_group(launch.rank, launch.world, device) as shard:
        work(shard, device, *args)


def train_rank(
    shard: Shard, device: torch.device, data: GlobalData, out: Path, progress: bool = False
) -> None:
    """One process of a data-parallel fit (a `Work`): train this rank's share of every batch;
    rank 0 writes the checkpoint to `out` (the weights are the same on every rank)."""
    fitted = GlobalModel(data.config, device=str(device)).train(data, shard, progress)
    if shard.rank == 0:
        fitted.save(out)


def _spawned(
    rank: int,
    world: int,
    init_method: str,
    kind: DeviceKind,
    work: Work,
    args: tuple[Any, ...],
) -> None:
    device = rank_device(kind, rank)
    _share_cores(device, world)
    with process_group(rank, world, device, init_method) as shard:
        work(shard, device, *args)


def _share_cores(device: torch.device, processes: int) -> None:
    """An equal share of torch's threads (one per core, or OMP_NUM_THREADS) for a CPU process."""
    if device.type == "cpu":
        cap_threads(max(1, torch.get_num_threads() // processes))
