"""The GRU forecasting network: inputs at every step, a quantile forecast at every step.

Shapes (batch-first at the boundary): B windows, T context steps, H horizon, Q quantiles,
K known-in-advance covariates, O observed-only covariates.

At step t the network has read the target and covariates up to t and forecasts the target at
t+1..t+H. Known covariates (calendar, shift plan, set-points) are also read for t+1..t+H by the
head, because they are known ahead; observed ones (other sensors) only up to t. Every step has a
loss term, which gives DSF dense credit to work with (method.md §3).

Two choices keep a plain GRU from over-fitting level and scale (the issue's note on ETTh1):
* inputs are taken relative to the window's first value (a causal level: every step knows it),
  in units of the series scale fitted on the training split;
* forecasts are offsets from the last observed value, and the head starts at zero, so an
  untrained network repeats the last value and training can only be kept if it beats that.

A global model (`model.global_model`) trains one network on many series and may give each a
learned vector (an embedding of E numbers), read at every step like an observed covariate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.modes import TrainingMode
from model.recurrent import RecurrentStack

# Inference ignores the mode; training callers always pass theirs.
EXACT = TrainingMode("bptt")

# What an untrained network forecasts (its head starts at zero): "last" repeats the last value
# it read, the naive forecast of a level; "zero" forecasts zero, the naive forecast of a
# differenced series (no change), which "last" would turn into the last change repeated.
Anchor = Literal["last", "zero"]

# The series index of a series the network never trained on (a global model's cold start):
# it reads the mean of the learned vectors, see `ForecastNetwork.series_vectors`.
UNSEEN = -1


@dataclass(frozen=True)
class NetworkConfig:
    """Hyper-parameters of the network; stored as JSON in checkpoints."""

    horizon: int
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.1
    known: int = 0
    observed: int = 0
    tau_min: float = 1.0
    tau_max: float = 256.0
    anchor: Anchor = "last"
    # Rows of the series embedding table and its width; 0 and 0 (a line model): no table.
    series: int = 0
    embedding: int = 0

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.hidden < 1 or self.layers < 1:
            raise ValueError("horizon, hidden and layers must be positive")
        if self.series < 0 or self.embedding < 0 or (self.series > 0) != (self.embedding > 0):
            raise ValueError(
                f"series and embedding must both be positive or both 0, got {self.series} "
                f"and {self.embedding}"
            )
        qs = self.quantiles
        if 0.5 not in qs or list(qs) != sorted(set(qs)) or not all(0 < q < 1 for q in qs):
            raise ValueError(f"quantiles must be increasing in (0, 1) and include 0.5, got {qs}")
        if self.anchor not in ("last", "zero"):
            raise ValueError(f"anchor must be 'last' or 'zero', got {self.anchor!r}")

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict) -> NetworkConfig:
        return NetworkConfig(**{**data, "quantiles": tuple(data["quantiles"])})


class ForecastNetwork(nn.Module):
    """Target and covariates in, non-crossing quantile forecasts out, at every step."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.stack = RecurrentStack(
            input_size=1 + config.known + config.observed + config.embedding,
            hidden=config.hidden,
            layers=config.layers,
            dropout=config.dropout,
            tau_range=(config.tau_min, config.tau_max),
        )
        self.head = nn.Linear(config.hidden, config.horizon * len(config.quantiles))
        # How the known covariates of a step move the forecast there: g(known[t+h]) - g(known[t])
        # shifts the whole distribution of step h. One weight per covariate, shared by every
        # step, where a dense head reading all H·K future values (480 inputs at horizon 96 with
        # the calendar) over-fitted ETTh1 into a worse forecast than none (0.061 vs 0.052).
        self.plan = nn.Linear(config.known, 1, bias=False) if config.known else None
        self._median = config.quantiles.index(0.5)
        self._init_head()
        # Built last, so that a network without one draws the same initial weights as before
        # the table existed; absent rather than unused without series, since DDP refuses
        # parameters that get no gradient (`model.shard`).
        self.embedding = nn.Embedding(config.series, config.embedding) if config.series else None

    def _init_head(self) -> None:
        # Zero weights: the first forecast repeats the last value; interval offsets start at
        # softplus(bias) = 0.5 scale units, a modest band rather than a zero-width one.
        nn.init.zeros_(self.head.weight)
        if self.plan is not None:
            nn.init.zeros_(self.plan.weight)
        bias = self.head.bias.detach().view(self.config.horizon, len(self.config.quantiles))
        bias.fill_(math.log(math.expm1(0.5)))
        bias[:, self._median] = 0.0

    def forward(
        self,
        target: Tensor,
        known: Tensor | None = None,
        observed: Tensor | None = None,
        mode: TrainingMode = EXACT,
        positions: Tensor | None = None,
        series: Tensor | None = None,
    ) -> Tensor:
        """Forecast from the steps `positions` (every step by default).

        ==========  ============  ====================================================
        target      (B, T)        scaled target, relative to the window's first value
        known       (B, T+H, K)   known covariates, H steps beyond the context
        observed    (B, T, O)     observed covariates
        positions   (P,)          steps to forecast from (the head runs only there)
        series      (B,)          each window's series index (read only with a table)
        returns     (B, P, H, Q)  forecasts of target[t+1..t+H] made at each step t
        ==========  ============  ====================================================

        The head is most of a step's cost at long horizons (H·Q outputs per step), so training
        runs it at the scored steps only and forecasting at the last step only.
        """
        batch, steps = target.shape
        horizon, k = self.config.horizon, self.config.known
        at = torch.arange(steps, device=target.device) if positions is None else positions
        parts = [target.unsqueeze(-1)]
        if k:
            parts.append(known[:, :steps])
        if self.config.observed:
            parts.append(observed)
        if self.embedding is not None:
            vectors = self.series_vectors(series)  # (B, E)
            parts.append(vectors[:, None].expand(batch, steps, -1))
        features = torch.cat(parts, dim=-1).transpose(0, 1)  # (T, B, 1+K+O+E)
        states = self.stack(features, mode).transpose(0, 1)  # (B, T, D)
        head_in = self.stack.drop(states[:, at])  # (B, P, D)
        raw = self.head(head_in).view(batch, len(at), horizon, -1)
        quantiles = _monotone_quantiles(raw, self._median)
        if self.plan is not None and known is not None:
            effect = self.plan(known).squeeze(-1)  # (B, T+H)
            ahead = effect[:, 1 : steps + horizon].unfold(1, horizon, 1)[:, at]  # (B, P, H)
            quantiles = quantiles + (ahead - effect[:, at, None]).unsqueeze(-1)
        if self.config.anchor == "zero":
            return quantiles
        return target[:, at, None, None] + quantiles

    def series_vectors(self, series: Tensor | None) -> Tensor:
        """(B,) series indices -> (B, E) learned vectors; `UNSEEN` reads the table's mean.

        The mean is the centre of the vectors the network learned to read, a neutral series
        for one it never saw: a zero vector or a random row could lie where no training series
        did. Computed for every row and selected, so the batch never waits on a device sync.
        """
        if self.embedding is None:
            raise RuntimeError("this network has no series embedding")
        if series is None:
            raise ValueError("this network embeds series: give each window's series index")
        table = self.embedding.weight
        vectors = self.embedding(series.clamp_min(0))
        return torch.where((series == UNSEEN)[:, None], table.mean(0), vectors)


def _monotone_quantiles(raw: Tensor, median: int) -> Tensor:
    """(…, Q) raw outputs -> quantiles that never cross: the median plus cumulated softplus gaps
    outwards from it (no flips: at three quantiles each side is one softplus)."""
    centre = raw[..., median : median + 1]
    gaps = F.softplus(torch.cat([raw[..., :median], raw[..., median + 1 :]], dim=-1))
    below = gaps[..., :median]
    if median > 1:
        below = torch.flip(torch.cumsum(torch.flip(below, [-1]), -1), [-1])
    above = gaps[..., median:]
    if above.shape[-1] > 1:
        above = torch.cumsum(above, -1)
    return torch.cat([centre - below, centre, centre + above], dim=-1)


def pinball_loss(
    forecast: Tensor,
    actual: Tensor,
    quantiles: Tensor,
    weight: Tensor | None = None,
    scored: Tensor | None = None,
) -> Tensor:
    """Mean quantile (pinball) loss; forecast (…, Q), actual (…), quantiles (Q,).

    `weight` (…) scores only some targets (0 for a placeholder inside a gap): the mean is then
    taken over the weighted targets. `scored` replaces their count when these rows are one
    rank's share of a larger batch (`model.shard`): every share then divides by the whole
    batch's count, and the shares' losses add up to the batch's mean.
    """
    error = actual.unsqueeze(-1) - forecast
    loss = torch.maximum(quantiles * error, (quantiles - 1.0) * error)
    if weight is None:
        return loss.mean()
    count = weight.sum() if scored is None else scored
    return (loss.mean(-1) * weight).sum() / count.clamp_min(1.0)
