"""Training loop: AdamW, clipping, warm-up plus cosine schedule, early stopping, progress bar.

Validation is time-ordered: the last rows of the series are held out, windows used for training
never reach into them, and the scaling is fitted on the training rows alone.

The same loop trains data-parallel (`model.distributed`): given a `Shard`, each process computes
its share of every batch through a `DistributedDataParallel` replica, and the losses, counts
and validation sums that decide the schedule and early stopping are summed over the ranks, so
every rank takes the same decisions and keeps the same weights.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from model.modes import TrainingMode
from model.network import ForecastNetwork, pinball_loss
from model.shard import SINGLE, Shard
from model.windows import Batch, WindowSource

log = logging.getLogger(__name__)


class TrainingStopped(Exception):
    """A stop was requested (`stop` set): the fit ended between two steps and its state is
    abandoned, so the caller can hand the work back instead of storing half of it."""


def check_stop(stop: threading.Event | None) -> None:
    """Raise `TrainingStopped` if `stop` is set. Called between steps and between candidates:
    an epoch of the service's defaults takes seconds, longer than a container's grace period
    allows a stop to wait."""
    if stop is not None and stop.is_set():
        raise TrainingStopped


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; stored with the model so a run can be repeated."""

    mode: str = "dsf"
    context: int = 168
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-2
    max_epochs: int = 30
    steps_per_epoch: int = 100
    patience: int = 4
    grad_clip: float = 1.0
    warmup_fraction: float = 0.05
    loss_warmup: int = 16
    loss_stride: int = 1
    validation_fraction: float = 0.2
    validation_windows: int = 512
    adapt_every: int = 10
    adapt_momentum: float = 0.9
    lam_max: float = 0.99
    seed: int = 0

    def __post_init__(self) -> None:
        TrainingMode.parse(self.mode)
        if self.context < 2 or self.batch_size < 1 or self.max_epochs < 1:
            raise ValueError("context must be at least 2; batch_size and max_epochs positive")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError("validation_fraction must lie in (0, 1)")


@dataclass
class TrainReport:
    """What a run did: per-epoch losses, the best epoch, and wall-clock seconds."""

    mode: str
    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    initial_validation_loss: float = math.inf
    steps: int = 0
    seconds: float = 0.0

    @property
    def best_validation_loss(self) -> float:
        """Validation loss of the weights kept: the best epoch's, or the untrained network's."""
        if self.best_epoch < 0:
            return self.initial_validation_loss
        return self.validation_loss[self.best_epoch]

    def to_json(self) -> dict:
        return asdict(self)


def learning_rate_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0.1 at `total` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return 0.1 + 0.45 * (1.0 + math.cos(math.pi * progress))


def configure_optimizer(network: ForecastNetwork, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only: decaying biases just adds bias."""
    decay = [p for p in network.parameters() if p.dim() >= 2]
    other = [p for p in network.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def batch_loss(
    network: torch.nn.Module,
    batch: Batch,
    mode: TrainingMode,
    loss_warmup: int,
    quantiles: torch.Tensor,
    loss_stride: int = 1,
    shard: Shard = SINGLE,
) -> torch.Tensor:
    """Pinball loss over every `loss_stride`-th step after the first `loss_warmup` (too little
    context there), ending at the last step: the one a forecast is served from.

    `network` is a `ForecastNetwork` or its DDP replica. With a `shard`, `batch` is this rank's
    share: it is divided by the whole batch's count of scored targets and multiplied by the
    world size, so that DDP's average of the ranks' gradients is exactly the gradient of the
    whole batch's mean, however its rows (and its placeholders) fall to the ranks.
    """
    steps = batch.target.shape[1]
    skip = min(loss_warmup, steps - 1)
    at = torch.arange(steps - 1, skip - 1, -loss_stride, device=batch.target.device).flip(0)
    forecast = network(
        batch.target, batch.known, batch.observed, mode, positions=at, series=batch.series
    )
    weight = batch.weight[:, at]
    if not shard.distributed:
        return pinball_loss(forecast, batch.future[:, at], quantiles, weight)
    scored = shard.sum(weight.sum())
    return shard.world * pinball_loss(forecast, batch.future[:, at], quantiles, weight, scored)


@torch.no_grad()
def estimate_loss(
    network: ForecastNetwork,
    maker: WindowSource,
    starts: np.ndarray,
    device: torch.device,
    quantiles: torch.Tensor,
    batch_rows: int = 256,
    shard: Shard = SINGLE,
) -> float:
    """Pinball loss of the last step's forecast (the one served) over all `starts`, scored on
    real readings only. With a `shard`, each rank scores its share of `starts` and every rank
    returns the same total: early stopping must not stop one rank and not another."""
    network.eval()
    total, scored = 0.0, 0.0
    starts = starts[shard.share(len(starts))]
    for i in range(0, len(starts), batch_rows):
        batch = maker.batch(starts[i : i + batch_rows]).to(device)
        last = torch.tensor([batch.target.shape[1] - 1], device=device)
        forecast = network(
            batch.target, batch.known, batch.observed, positions=last, series=batch.series
        )[:, 0]
        weight = batch.weight[:, -1]
        loss = pinball_loss(forecast, batch.future[:, -1], quantiles, weight)
        total += loss.item() * weight.sum().item()
        scored += weight.sum().item()
    network.train()
    sums = torch.tensor([total, scored], dtype=torch.float64, device=device)
    total, scored = shard.sum(sums).tolist()
    return total / max(scored, 1.0)


class Training:
    """One network's optimisation, run in stretches of epochs: `model.selection` screens every
    candidate for a few epochs, then continues only the best one, with its optimiser state and
    learning-rate schedule where they were, as if it had never paused.

    The untrained network repeats the last value (see model.network): it is scored first, so
    training is kept only if it beats that, and `best_epoch` stays -1 if it never does.

    `shard` (`model.shard`): this process's place in a data-parallel run; the process group
    must be up. The default is a single process.
    """

    def __init__(
        self,
        network: ForecastNetwork,
        maker: WindowSource,
        train_starts: np.ndarray,
        validation_starts: np.ndarray,
        config: TrainConfig,
        device: torch.device,
        progress: bool = False,
        shard: Shard = SINGLE,
    ) -> None:
        self.network, self.maker, self.config, self.device = network, maker, config, device
        self.train_starts, self.validation_starts = train_starts, validation_starts
        self.shard = shard
        self.mode = TrainingMode.parse(config.mode)
        self.generator = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)
        network.to(device).train()
        self.replica = shard.replicate(network, device)
        # Each rank its own dropout masks: the same seed would give rows at the same place in
        # every rank's share the same mask.
        network.stack.generator = torch.Generator(device=device).manual_seed(
            config.seed + 1 + shard.rank
        )
        self.quantiles = torch.tensor(network.config.quantiles, device=device)
        self.optimizer = configure_optimizer(network, config)
        total = config.max_epochs * config.steps_per_epoch
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: learning_rate_factor(s, total, int(config.warmup_fraction * total)),
        )
        if self.mode.name == "dsf-adaptive":
            network.stack.start_probing()
        self.report = TrainReport(mode=str(self.mode))
        self.report.initial_validation_loss = self._validation_loss()
        self.best_loss = self.report.initial_validation_loss
        self.best_state = copy.deepcopy(network.state_dict())
        self.stale = 0
        self.stopped = False
        self.bar = tqdm(
            total=total, disable=not progress or shard.rank > 0, unit="step", dynamic_ncols=True
        )

    @property
    def epochs_done(self) -> int:
        return len(self.report.validation_loss)

    @property
    def finished(self) -> bool:
        """Stopped early, or every epoch of the budget ran."""
        return self.stopped or self.epochs_done >= self.config.max_epochs

    def run(
        self,
        epochs: int,
        on_epoch: Callable[[int, int, float], None] | None = None,
        stop: threading.Event | None = None,
    ) -> TrainReport:
        """Up to `epochs` more epochs, fewer if patience runs out or the budget ends.

        `on_epoch(epoch, max_epochs, validation_loss)` is called after each epoch is scored, so
        a caller can report progress; an exception it raises stops training and propagates.
        `stop` set raises `TrainingStopped` before the next step, mid-epoch.
        """
        config, network, report = self.config, self.network, self.report
        started = time.perf_counter()
        target = min(self.epochs_done + epochs, config.max_epochs)
        while not self.stopped and self.epochs_done < target:
            epoch = self.epochs_done
            epoch_loss = 0.0
            for _ in range(config.steps_per_epoch):
                check_stop(stop)
                epoch_loss += self._step()
            val = self._validation_loss()
            report.train_loss.append(self._mean_over_ranks(epoch_loss) / config.steps_per_epoch)
            report.validation_loss.append(val)
            log.info("epoch %d: train %.4f validation %.4f", epoch, report.train_loss[-1], val)
            if on_epoch is not None:
                on_epoch(epoch, config.max_epochs, val)
            if val < self.best_loss:
                self.best_loss, self.best_state = val, copy.deepcopy(network.state_dict())
                self.stale, report.best_epoch = 0, epoch
            else:
                self.stale += 1
                self.stopped = self.stale >= config.patience
        report.seconds += time.perf_counter() - started
        return report

    def finish(self) -> TrainReport:
        """Keep the best weights (or the untrained ones), in evaluation mode."""
        self.bar.close()
        self.network.stack.probes = None
        self.network.stack.generator = None
        self.network.load_state_dict(self.best_state)
        self.network.eval()
        return self.report

    def backward(self) -> float:
        """Draw the next batch and leave its gradients in the parameters' `.grad`; its loss.

        Every rank draws the whole batch from the same generator and computes only its share,
        so the batch, and the gradient DDP averages, do not depend on the world size.
        """
        config = self.config
        pick = torch.randint(len(self.train_starts), (config.batch_size,), generator=self.generator)
        starts = self.train_starts[pick.numpy()][self.shard.share(config.batch_size)]
        batch = self.maker.batch(starts).to(self.device)
        loss = batch_loss(
            self.replica,
            batch,
            self.mode,
            config.loss_warmup,
            self.quantiles,
            config.loss_stride,
            self.shard,
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return loss.item()

    def _step(self) -> float:
        config, network = self.config, self.network
        loss = self.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), config.grad_clip)
        self.optimizer.step()
        self.schedule.step()
        self.report.steps += 1
        if self.mode.name == "dsf-adaptive" and self.report.steps % config.adapt_every == 0:
            network.stack.adapt_feedback(config.adapt_momentum, config.lam_max)
        self.bar.update()
        self.bar.set_postfix(loss=f"{loss:.4f}", val=f"{self.best_loss:.4f}")
        return loss

    def _mean_over_ranks(self, value: float) -> float:
        """A step loss summed over steps, as the whole batches' loss: each rank's is its share's
        part of the batch mean times the world size (`batch_loss`), so their mean is the mean."""
        if not self.shard.distributed:
            return value
        summed = self.shard.sum(torch.tensor(value, dtype=torch.float64, device=self.device))
        return summed.item() / self.shard.world

    def _validation_loss(self) -> float:
        return estimate_loss(
            self.network,
            self.maker,
            self.validation_starts,
            self.device,
            self.quantiles,
            shard=self.shard,
        )
