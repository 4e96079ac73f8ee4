"""Which share of each global batch this process trains on, and the sums all processes share.

A `Shard` is this process's place in a data-parallel run (`model.distributed`): rank r of W.
Every rank draws the whole global batch from the same seeded generator and keeps its own
contiguous share of the rows, so the batch, and with it the gradient, is the same whatever W
is. The gradients themselves are averaged by PyTorch's `DistributedDataParallel`, never by hand;
this module only adds the few scalar sums (how many targets a batch scores, a validation loss)
that every rank must agree on, through `torch.distributed.all_reduce`.

The default `Shard()` (rank 0 of 1) is a single process: nothing is shared and no process
group is needed, so the single-process trainer runs exactly as it always did.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Shard:
    """Rank `rank` of `world` processes training one model together."""

    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise ValueError(f"need 0 <= rank < world, got rank {self.rank} of {self.world}")

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def share(self, rows: int) -> slice:
        """This rank's rows [r·n/W, (r+1)·n/W) of n: contiguous, disjoint, covering all n,
        and as even as n allows (shares differ by at most one row)."""
        return slice(self.rank * rows // self.world, (self.rank + 1) * rows // self.world)

    def sum(self, values: Tensor) -> Tensor:
        """`values` summed over every rank (a detached copy; `values` itself when alone).

        NCCL reduces only CUDA tensors and gloo CPU ones, so `values` must live on this rank's
        training device.
        """
        if not self.distributed:
            return values
        total = values.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def replicate(self, network: nn.Module, device: torch.device) -> nn.Module:
        """The module a training step calls: `network` itself alone, else its DDP replica.

        `find_unused_parameters=False`: every parameter gets a gradient in every step (a
        global model without a series embedding has no embedding table at all), and the
        search for unused ones would cost a graph traversal per step. The DSF backward is an
        `autograd.Function` whose gradients reach the parameters' accumulators like any
        other, so DDP's hooks fire and average them as for the fused kernel.
        """
        if not self.distributed:
            return network
        device_ids = None
        if device.type == "cuda":
            device_ids = [device.index if device.index is not None else torch.cuda.current_device()]
        return DistributedDataParallel(network, device_ids=device_ids, find_unused_parameters=False)


SINGLE = Shard()
