"""One production line's model configuration: every default written once.

`LineModelConfig` is what `linecast train`, `POST /v1/series/{id}/train`, `quickstart`, the
demo and the benchmarks map their options onto; nothing else holds a default for a line model.
Some defaults depend on the data (the sampling step, how many rows there are): `None` marks
those, and `resolve(step, rows)` turns them into numbers the way documented on each field.

Why these numbers (measured in `bench/product.py` and the closing note of issue 9):
* one GRU layer of 64 units: two layers cost twice as much and scored no better on ETTh1;
* 15 epochs of 100 steps of 32 windows, learning rate 1e-3, patience 4: the budget at which
  `bench/accuracy.py` matched NLinear on ETTh1;
* `loss_stride` 4: the head runs on every fourth step of a window; neighbouring steps' errors
  are nearly the same, and at long horizons the head is most of a step's cost (63 -> 30 ms per
  step at horizon 96, same test error);
* `tau_max` 48: the longest DSF time constant; 48 scored better than 336 on ETTh1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args

import pandas as pd

from model.modes import TrainingMode
from model.network import Anchor, NetworkConfig
from model.trainer import TrainConfig
from preprocessing.calendar import CalendarConfig
from preprocessing.outliers import OutlierConfig
from preprocessing.pipeline import PipelineConfig, TrendChoice
from preprocessing.regularise import RegulariseConfig, periods_for
from preprocessing.trend import TREND_KINDS

# Kinds of candidate the cross-validation may choose from (`model.members`).
CandidateKind = Literal["gru", "linear", "ets", "seasonal-naive", "repeat-last"]
CANDIDATE_KINDS: tuple[CandidateKind, ...] = get_args(CandidateKind)
# Context bounds of the automatic choice: enough steps to see a day of 5-minute data, few
# enough that a forecast reads its context in milliseconds.
MIN_CONTEXT, MAX_CONTEXT = 48, 336


@dataclass(frozen=True)
class LineModelConfig:
    """What to train for one line; stored with the model, so a run can be repeated.

    Columns: `target` is forecast; `known` are known ahead (plans, set-points) and must be
    given for the forecast steps; `observed` are read up to the forecast origin only.
    `context`: steps read before a forecast; None chooses four horizons, at least a week (or a
    day) of steps where that fits in 48..336 steps, and at most a quarter of the rows.
    `candidates`: kinds the cross-validation may pick (`CANDIDATE_KINDS`); all by default.
    `mode`: "auto" (DSF where the candidate's input is stationary; otherwise DSF checked
    against exact BPTT, see `model.selection`) or a `model.modes` mode, forced.
    """

    horizon: int
    context: int | None = None
    target: str = "value"
    known: tuple[str, ...] = ()
    observed: tuple[str, ...] = ()
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    mode: str = "auto"
    candidates: tuple[CandidateKind, ...] = CANDIDATE_KINDS
    # -- network --
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.1
    tau_max: float = 48.0
    # -- training --
    epochs: int = 15
    steps_per_epoch: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 4
    loss_stride: int = 4
    seed: int = 0
    # -- preprocessing --
    freq: str | None = None
    trend: TrendChoice = "auto"
    periods: tuple[int, ...] | None = None
    max_fill: int = RegulariseConfig().max_fill
    outliers: bool = True
    # -- calendar features (known inputs of the network) --
    calendar: bool | None = None
    timezone: str = "UTC"
    shifts: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("known", "observed", "candidates", "shifts", "quantiles"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.periods is not None:
            object.__setattr__(self, "periods", tuple(int(p) for p in self.periods))
        if 0.5 not in self.quantiles or list(self.quantiles) != sorted(set(self.quantiles)):
            raise ValueError(f"quantiles must be increasing and include 0.5, got {self.quantiles}")
        if not all(0 < q < 1 for q in self.quantiles):
            raise ValueError(f"quantiles must lie in (0, 1), got {self.quantiles}")
        if self.horizon < 1:
            raise ValueError(f"horizon must be positive, got {self.horizon}")
        if self.context is not None and self.context < 2:
            raise ValueError(f"context must be at least 2 steps, got {self.context}")
        if self.mode != "auto":
            TrainingMode.parse(self.mode)
        unknown = [kind for kind in self.candidates if kind not in CANDIDATE_KINDS]
        if unknown or not self.candidates:
            raise ValueError(
                f"candidates must be some of {', '.join(CANDIDATE_KINDS)}; got {self.candidates}"
            )
        if self.trend != "auto" and self.trend not in TREND_KINDS:
            raise ValueError(f"trend must be auto or one of {', '.join(TREND_KINDS)}")
        positive = ("hidden", "layers", "epochs", "steps_per_epoch", "batch_size", "loss_stride")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.patience < 1 or self.tau_max < 1:
            raise ValueError("learning_rate must be positive, patience and tau_max at least 1")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")

    def resolve(self, step: pd.Timedelta, rows: int) -> LineModelConfig:
        """The config with the data-dependent defaults filled in (see `context`)."""
        if self.context is not None:
            return self
        return replace(self, context=automatic_context(self.horizon, step, rows))

    @property
    def loss_warmup(self) -> int:
        """Steps at the start of a window that are not scored: the state is still filling."""
        return min(48, max(1, (self.context or MIN_CONTEXT) // 4))

    def network(self, anchor: Anchor, known: int, observed: int) -> NetworkConfig:
        """The GRU's configuration for an input read from `anchor` with these covariates."""
        return NetworkConfig(
            horizon=self.horizon,
            quantiles=self.quantiles,
            hidden=self.hidden,
            layers=self.layers,
            dropout=self.dropout,
            known=known,
            observed=observed,
            tau_max=min(self.tau_max, float(self._context)),
            anchor=anchor,
        )

    def training(self, mode: str) -> TrainConfig:
        """The optimisation settings of one GRU candidate trained in `mode`."""
        return TrainConfig(
            mode=mode,
            context=self._context,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            max_epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            patience=self.patience,
            loss_warmup=self.loss_warmup,
            loss_stride=self.loss_stride,
            seed=self.seed,
        )

    def pipeline(self) -> PipelineConfig:
        return PipelineConfig(
            regularise=RegulariseConfig(freq=self.freq, max_fill=self.max_fill),
            outliers=OutlierConfig() if self.outliers else None,
            trend=self.trend,
            periods=self.periods,
            timezone=self.timezone,
        )

    def calendar_features(self) -> CalendarConfig | None:
        """Local-time calendar columns for the network, if any (`calendar`: None decides)."""
        wanted = self.calendar
        if wanted is None:
            wanted = self.timezone != "UTC" or bool(self.shifts)
        if not wanted:
            return None
        return CalendarConfig(timezone=self.timezone, shift_starts=self.shifts)

    @property
    def _context(self) -> int:
        if self.context is None:
            raise RuntimeError("resolve() the config before building a network from it")
        return self.context

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineModelConfig:
        """The config `to_dict` wrote; unknown keys are an error, not silently dropped."""
        names = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown line model config keys: {unknown}")
        return cls(**data)


def automatic_context(horizon: int, step: pd.Timedelta, rows: int) -> int:
    """Four horizons, at least the longest of a week or a day of steps that fits the bounds,
    and at most a quarter of the rows (so enough windows remain to learn from)."""
    floor = MIN_CONTEXT
    for steps in sorted(periods_for(step).values(), reverse=True):
        if steps <= MAX_CONTEXT:
            floor = max(floor, steps)
            break
    context = min(max(4 * horizon, floor), MAX_CONTEXT)
    return max(2, min(context, rows // 4))


def default_of(name: str) -> Any:
    """A field's default, for the option parsers (CLI, API) that map onto this config."""
    for field in fields(LineModelConfig):
        if field.name == name:
            return field.default
    raise KeyError(name)
