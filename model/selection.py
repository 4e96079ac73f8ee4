"""Choosing a line's model by rolling-origin cross-validation on its own training data.

The stationarity verdict alone chose the preprocessing before, and on ETTh1 it chose a
differenced input on which the GRU scored worse than repeating the last value. Now every
applicable candidate is fitted on the first rows and scored on rolling origins (stride 1) in
the last ones, the validation stretch, by the mean squared error of its median in the
series' own units:

* the GRU on each applicable representation (`representations`): the level the benchmark reads,
  with and without the seasonal profiles, and the trend the stationarity tests chose;
* a ridge regression on the same representations (`model.members.linear`), exponential
  smoothing on the deseasonalised level, seasonal-naive and repeat-last;
* the mean of the best GRU and the best linear or smoothing model, and the mean of the three
  best candidates. That last one serves unless a single candidate beats it by more than two
  standard errors: where the validation stretch is short the single best is partly luck, and
  forecast combinations are the M4 competition's robust answer to that.

GRUs are the expensive candidates: `model.race` screens them and trains the best one to the
end, in the mode the stationarity tests decide (or checked against exact BPTT where its input
is not stationary). `model.scoreboard` scores every candidate on the same origins; candidates
within its `TIE` of the best count as equal, and then the representation the stationarity
tests recommend wins, then the simpler kind. The fallback is the best candidate without a
network. Every fully trained candidate is kept with the model, with its intervals calibrated
on the validation origins (`model.intervals`).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from model.config import LineModelConfig
from model.intervals import IntervalCalibration
from model.members import Member, Representation, SeriesInputs
from model.members.base import local_scale, placeholder_share
from model.members.ensemble import EnsembleMember
from model.members.ets import EtsMember
from model.members.linear import LinearMember
from model.members.naive import RepeatLastMember, SeasonalNaiveMember
from model.race import NetworkRace, Progress
from model.scoreboard import CandidateScore, Scoreboard, network_of
from model.trainer import check_stop
from model.windows import MAX_PLACEHOLDER_SHARE
from preprocessing.pipeline import Pipeline

MAX_NETWORKS = 4
VALIDATION_SHARE = 0.2
MIN_VALIDATION_ORIGINS = 64
MAX_VALIDATION_ORIGINS = 1024
MIN_TRAINING_WINDOWS = 32
# Candidates averaged by the widest ensemble: on five short SKAB runs the single best by
# validation was 0.74-0.99 of repeat-last's test MSE, the mean of the best three 0.74-0.76.
ENSEMBLE_SIZE = 3
# How much lower a single candidate's validation MSE must be than the mean of the three best,
# and by how many standard errors of the difference, to serve instead of it. Two standard
# errors, the usual 5 % two-sided test (Diebold-Mariano's): at one, a short SKAB run (840 rows)
# served single ETS, 1.3 standard errors ahead on validation, at repeat-last's test MSE (0.030),
# where the combination scored 0.021; on ETTh1 and the simulated line nothing changed.
COMBINATION_MARGIN = 0.02
COMBINATION_STANDARD_ERRORS = 2.0
BASELINE_KINDS = ("repeat-last", "seasonal-naive", "ets", "linear")


@dataclass(frozen=True)
class ModeChoice:
    """The training mode asked for, the one used, and why (recorded with the model)."""

    requested: str
    used: str
    reason: str


@dataclass(frozen=True)
class SelectionReport:
    """The candidate table and the decision, stored with the model and shown to users."""

    candidates: tuple[CandidateScore, ...]
    chosen: str
    fallback: str
    reason: str
    training_rows: int
    validation_rows: int
    validation_origins: int
    metric: str = "mse"
    input: dict[str, Any] = field(default_factory=dict)

    def score(self, name: str) -> CandidateScore:
        for row in self.candidates:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> SelectionReport:
        rows = tuple(CandidateScore(**row) for row in data["candidates"])
        return SelectionReport(**{**data, "candidates": rows})


@dataclass
class Selection:
    """What `select` found: the members worth keeping and their interval calibrations."""

    members: dict[str, Member]
    calibrations: dict[str, IntervalCalibration]
    serving: str
    fallback: str
    report: SelectionReport
    mode: ModeChoice | None
    warm_started: tuple[str, ...] = ()


def minimum_rows(horizon: int, context: int) -> int:
    """Grid rows `select` needs: training windows, then a validation stretch."""
    return context + horizon + MIN_TRAINING_WINDOWS + max(2 * horizon, horizon + 16)


def validation_start(rows: int, horizon: int, context: int) -> int:
    """First validation row: a fifth of the rows, at least `MIN_VALIDATION_ORIGINS` origins,
    fewer where the training rows would otherwise be too few."""
    if rows < minimum_rows(horizon, context):
        raise ValueError(
            f"{rows} rows are too few for context {context} and horizon {horizon}: at least "
            f"{minimum_rows(horizon, context)} are needed"
        )
    span = max(math.ceil(VALIDATION_SHARE * rows), MIN_VALIDATION_ORIGINS + horizon)
    least_training = context + horizon + MIN_TRAINING_WINDOWS
    return max(rows - span, least_training)


def select(
    inputs: SeriesInputs,
    pipeline: Pipeline,
    config: LineModelConfig,
    device: str = "cpu",
    progress: Progress | None = None,
    warm_states: dict[str, dict[str, torch.Tensor]] | None = None,
    stop: threading.Event | None = None,
) -> Selection:
    """Fit, score and choose (see the module). `config` must be resolved. `warm_states` maps
    a GRU candidate's name to weights to start from (a warm start from the model in service).
    `stop` set raises `TrainingStopped` before the next candidate or training step."""
    assert config.context is not None
    horizon, context = config.horizon, config.context
    rows = len(inputs)
    start = validation_start(rows, horizon, context)
    board = Scoreboard(inputs, validation_origins(inputs, start, horizon, context), horizon)
    if len(board.origins) == 0:
        raise ValueError("no validation origin has a reading and enough context before it")
    reps = representations(pipeline, config)
    variants = {rep: rep.fit(pipeline, inputs, start) for rep in reps}

    board.add(RepeatLastMember(horizon), 0.0)
    period = _seasonal_period(pipeline, context)
    if "seasonal-naive" in config.candidates and period is not None:
        board.add(SeasonalNaiveMember(horizon, period), 0.0)
    if "linear" in config.candidates:
        for rep, variant in variants.items():
            check_stop(stop)
            began = time.perf_counter()
            member = LinearMember.fit(rep, variant, inputs, start, context, horizon)
            board.add(member, time.perf_counter() - began)
    if "ets" in config.candidates:
        rep = Representation(seasonal=bool(pipeline.params.seasonal), trend="none")
        variant = variants.get(rep) or rep.fit(pipeline, inputs, start)
        for damped in (False, True):
            check_stop(stop)
            began = time.perf_counter()
            try:
                member = EtsMember.fit(rep, variant, inputs, start, context, horizon, damped)
            except ValueError:
                continue
            board.add(member, time.perf_counter() - began)

    recommended = _recommended(pipeline)
    story: dict[str, Any] = {}
    race = None
    if "gru" in config.candidates:
        race = NetworkRace(inputs, config, start, device, board, progress, warm_states or {}, stop)
        story = race.run(variants, recommended)
        statistical = board.best(("linear", "ets"))
        if race.winner is not None and statistical is not None:
            parts = (board.members[race.winner], board.members[statistical])
            board.add(EnsembleMember(parts), 0.0)
    top = board.ranked(exclude=("ensemble",))[:ENSEMBLE_SIZE]
    combination = None
    if len(top) == ENSEMBLE_SIZE:
        combination = board.add(EnsembleMember(tuple(board.members[n] for n in top)), 0.0).name

    chosen, reason = board.choose(recommended)
    if combination is not None and chosen != combination:
        gain, error = board.advantage(chosen, combination)
        combined = board.rows[combination].mse
        if not earns_its_place(gain, error, combined):
            reason = (
                f"{chosen}'s validation MSE is not clearly below that of the mean of the three "
                f"best (by {gain:.4g}; {COMBINATION_STANDARD_ERRORS:g} standard errors "
                f"{COMBINATION_STANDARD_ERRORS * error:.4g}, "
                f"{COMBINATION_MARGIN:.0%} {COMBINATION_MARGIN * combined:.4g}):"
                " the combination serves, as a single model must earn its place over the more "
                "robust mean"
            )
            chosen = combination
    fallback = board.best(BASELINE_KINDS) or "repeat-last"
    # Every fully trained candidate stays with the model: the gate may serve another one when
    # the chosen fails it, the next retraining can start from the GRU's weights, and an
    # operator can see what each would have forecast. Only the screened GRUs are dropped.
    keep = {name: board.members[name] for name in board.ranked()}
    scale = local_scale(inputs, board.origins, context, horizon)
    calibrations = {
        name: IntervalCalibration.fit(
            board.forecasts[name].median, board.actual, config.quantiles, scale
        )
        for name in keep
    }
    serving = board.members[chosen]
    network = network_of(serving)
    mode = None
    if network is not None:
        story = story.get(network.name, {})
        mode = ModeChoice(config.mode, network.mode, story.get("mode_reason", ""))
    report = SelectionReport(
        candidates=board.table(chosen, fallback),
        chosen=chosen,
        fallback=fallback,
        reason=reason,
        training_rows=start,
        validation_rows=rows - start,
        validation_origins=len(board.origins),
        input=story if network is not None else {},
    )
    warm = race.warm_started if race is not None else ()
    return Selection(keep, calibrations, chosen, fallback, report, mode, tuple(warm))


def earns_its_place(gain: float, error: float, combination_mse: float) -> bool:
    """Whether a single candidate whose validation MSE is `gain` below the combination's (with
    standard error `error`) serves instead of it: by more than `COMBINATION_MARGIN` of the
    combination's MSE and more than `COMBINATION_STANDARD_ERRORS` standard errors."""
    needed = max(COMBINATION_STANDARD_ERRORS * error, COMBINATION_MARGIN * combination_mse)
    return gain > needed


def representations(pipeline: Pipeline, config: LineModelConfig) -> list[Representation]:
    """The inputs worth a GRU and a linear model, most informative first: the level (what the
    benchmarks read), the tests' choice, the level without the seasonal profiles' help or
    with it, and the differenced series; at most `MAX_NETWORKS`, no repeats."""
    params = pipeline.params
    assert params is not None
    seasonal = bool(params.seasonal)
    chosen = Representation(seasonal, params.trend.kind)
    ordered = [
        Representation(False, "none"),
        chosen,
        Representation(seasonal, "none"),
        Representation(seasonal, "difference"),
    ]
    if config.trend != "auto":
        ordered = [chosen]
    unique: list[Representation] = []
    for rep in ordered:
        if rep not in unique:
            unique.append(rep)
    return unique[:MAX_NETWORKS]


def validation_origins(inputs: SeriesInputs, start: int, horizon: int, context: int) -> np.ndarray:
    """Origins p whose forecast rows p+1..p+H lie in the validation stretch and hold a reading,
    with a reading at p and a usable context; at most `MAX_VALIDATION_ORIGINS`, evenly."""
    rows = len(inputs)
    positions = np.arange(max(start - 1, context - 1), rows - horizon)
    if len(positions) == 0:
        return positions
    values = inputs.values
    ahead = values[positions[:, None] + np.arange(1, horizon + 1)]
    usable = np.isfinite(values[positions]) & np.isfinite(ahead).any(axis=1)
    usable &= placeholder_share(inputs, positions, context) <= MAX_PLACEHOLDER_SHARE
    positions = positions[usable]
    if len(positions) > MAX_VALIDATION_ORIGINS:
        pick = np.linspace(0, len(positions) - 1, MAX_VALIDATION_ORIGINS).round().astype(int)
        positions = positions[pick]
    return positions


def _seasonal_period(pipeline: Pipeline, context: int) -> int | None:
    """The shortest fitted seasonal period that fits in the context, for seasonal-naive."""
    params = pipeline.params
    assert params is not None
    periods = sorted(s.period for s in params.seasonal if s.period <= context)
    return periods[0] if periods else None


def _recommended(pipeline: Pipeline) -> str:
    """The representation the stationarity tests led the pipeline to."""
    params = pipeline.params
    assert params is not None
    return Representation(bool(params.seasonal), params.trend.kind).name
