"""One production line's model: preprocessing, candidates chosen by cross-validation, forecasts.

    fitted = LineModel(LineModelConfig(horizon=24)).fit(frame)
    fitted.forecast(frame)                    # the H steps after the last reading
    fitted.forecast_many(frame, origins)      # many origins, one batched pass

`fit` cleans the target with `preprocessing.Pipeline`, prepares the series once
(`SeriesInputs`: the grid, the plant's local-time calendar, the covariates) and lets
`model.selection` fit, score and choose among the candidates. The `FittedLineModel` it returns
serves the chosen member with intervals calibrated on the validation origins, and keeps the
best baseline (the fallback the service promotes when the chosen one fails its gate) and
repeat-last. Everything travels in one checkpoint: tensors plus one JSON document.

The frame is indexed by time (any time zone; UTC is used throughout) and holds the target and
any covariate columns. Long gaps stay gaps: a forecast whose context is more than
`MAX_PLACEHOLDER_SHARE` missing is refused, since it would rest on invented data.
"""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.tseries.frequencies import to_offset

from model.checkpoint import load_checkpoint, save_checkpoint
from model.config import LineModelConfig
from model.device import pick_device
from model.forecasts import LineForecast, ManyForecasts
from model.intervals import IntervalCalibration
from model.members import Member, SeriesInputs, member_from_document, member_to_document
from model.members.base import local_scale, placeholder_share
from model.members.network import NetworkMember
from model.race import Progress
from model.selection import ModeChoice, SelectionReport, minimum_rows, select
from model.windows import MAX_PLACEHOLDER_SHARE
from preprocessing.calendar import calendar_features, feature_names
from preprocessing.pipeline import Pipeline, PreprocessingError
from preprocessing.regularise import RegulariseConfig, regularise

FORMAT = "linecast-line-model/2"


class LineModel:
    """`LineModel(config).fit(frame) -> FittedLineModel`."""

    def __init__(self, config: LineModelConfig, device: str = "auto") -> None:
        self.config = config
        self.device = device

    def fit(
        self,
        frame: pd.DataFrame,
        on_progress: Progress | None = None,
        initial_weights: bytes | None = None,
        stop: threading.Event | None = None,
    ) -> FittedLineModel:
        """Preprocess, choose by cross-validation, train. ValueError names what is wrong.

        `on_progress(done, planned, message)` is called as training goes (epochs of the
        GRU candidates); an exception it raises stops the fit. `initial_weights` (a saved line
        model, e.g. the one in service) starts each GRU candidate whose representation and
        shape match one of its networks from that network's weights. `stop` set ends the fit
        within a training step with `model.trainer.TrainingStopped` (a worker shutting down).
        """
        target = _column(frame, self.config.target)
        pipeline = Pipeline(self.config.pipeline()).fit(target)
        params = pipeline.params
        assert params is not None  # set by fit
        rows = len(pipeline.clean(target))
        config = self.config.resolve(pd.Timedelta(to_offset(params.freq)), rows)
        assert config.context is not None
        if rows < minimum_rows(config.horizon, config.context):
            raise PreprocessingError(
                f"{rows} steps on the {params.freq} grid are too few for context "
                f"{config.context} and horizon {config.horizon}: at least "
                f"{minimum_rows(config.horizon, config.context)} are needed"
            )
        inputs = prepare_inputs(config, pipeline, frame)
        donor = warm_states(initial_weights) if initial_weights is not None else {}
        device = str(pick_device(self.device))
        selection = select(inputs, pipeline, config, device, on_progress, donor, stop)
        warm = None
        if initial_weights is not None:
            used = selection.warm_started
            warm = (
                f"warm start of {', '.join(used)} from the given weights"
                if used
                else "warm start not possible: no network of the given model has this input "
                "and shape"
            )
        return FittedLineModel(
            config,
            pipeline,
            selection.members,
            selection.calibrations,
            selection.serving,
            selection.fallback,
            selection.report,
            selection.mode,
            warm_start=warm,
        )


class FittedLineModel:
    """A chosen member serving forecasts with calibrated intervals, plus its fallbacks."""

    def __init__(
        self,
        config: LineModelConfig,
        pipeline: Pipeline,
        members: dict[str, Member],
        calibrations: dict[str, IntervalCalibration],
        serving: str,
        fallback: str,
        selection: SelectionReport,
        mode: ModeChoice | None,
        warm_start: str | None = None,
    ) -> None:
        if serving not in members or fallback not in members:
            raise ValueError("the serving and fallback members must be among the members")
        self.config, self.pipeline, self.members = config, pipeline, members
        self.calibrations, self.serving, self.fallback = calibrations, serving, fallback
        self.selection, self.mode, self.warm_start = selection, mode, warm_start

    @property
    def horizon(self) -> int:
        return self.config.horizon

    @property
    def context(self) -> int:
        assert self.config.context is not None  # resolved by fit
        return self.config.context

    @property
    def quantiles(self) -> tuple[float, ...]:
        return self.config.quantiles

    @property
    def member(self) -> Member:
        return self.members[self.serving]

    @property
    def network(self) -> NetworkMember | None:
        """The GRU the serving member uses, if any."""
        found = _networks([self.member])
        return found[0] if found else None

    @property
    def training_mode(self) -> str:
        """The GRU's training mode, or the serving member's kind when it has no network."""
        network = self.network
        return network.mode if network is not None else self.member.kind

    def with_serving(self, name: str) -> FittedLineModel:
        """The same model serving another of its members (the fallback, or repeat-last); the
        training mode's story stays where the member forecasts with the same GRU."""
        same_network = _networks([self.members[name]]) == _networks([self.member])
        return FittedLineModel(
            self.config,
            self.pipeline,
            self.members,
            self.calibrations,
            name,
            self.fallback,
            self.selection,
            self.mode if same_network else None,
            self.warm_start,
        )

    def recalibrate(
        self, frame: pd.DataFrame, origins: Sequence[pd.Timestamp] | pd.DatetimeIndex
    ) -> FittedLineModel:
        """The same model with every member's intervals calibrated on its forecasts from
        `origins` (readings in `frame` that no member trained on, e.g. the service's gate)."""
        inputs = prepare_inputs(self.config, self.pipeline, frame)
        stamps = pd.DatetimeIndex(pd.to_datetime(list(origins), utc=True))
        positions = inputs.stamps.get_indexer(stamps)
        positions = positions[self._usable(inputs, positions)]
        positions = positions[positions + self.horizon < len(inputs)]
        if len(positions) == 0:
            return self
        actual = inputs.values[positions[:, None] + np.arange(1, self.horizon + 1)]
        scale = local_scale(inputs, positions, self.context, self.horizon)
        calibrations = {
            name: IntervalCalibration.fit(
                member.predict(inputs, positions).median, actual, self.quantiles, scale
            )
            for name, member in self.members.items()
        }
        model = copy.copy(self)
        model.calibrations = calibrations
        return model

    # -- forecasting ---------------------------------------------------------------------------

    def forecast(
        self, frame: pd.DataFrame, future_known: pd.DataFrame | None = None
    ) -> LineForecast:
        """The `horizon` steps after the last reading, in original units.

        `future_known` holds the user's known columns for those steps (row order = step order);
        it is required exactly when the config names known columns.
        """
        future = self._future_known(future_known)
        inputs = prepare_inputs(self.config, self.pipeline, frame, future)
        last, missing = last_origin(inputs, self.context)
        values = self._predict(inputs, np.array([last]))[0]
        stamps = self.pipeline.forecast_stamps(inputs.stamps[last], self.horizon)
        return LineForecast(
            stamps, self.quantiles, values, inputs.stamps[last], missing, self.serving
        )

    def forecast_many(
        self, frame: pd.DataFrame, origins: Sequence[pd.Timestamp] | pd.DatetimeIndex
    ) -> ManyForecasts:
        """Forecasts from every origin (a stamp of a reading in `frame`: the last one read), in
        one batched pass; see `ManyForecasts` for the origins that cannot be forecast."""
        return self.forecast_members(frame, origins, (self.serving,))[self.serving]

    def forecast_members(
        self,
        frame: pd.DataFrame,
        origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
        names: Sequence[str] | None = None,
    ) -> dict[str, ManyForecasts]:
        """`forecast_many` of several members (all by default), the frame prepared once."""
        inputs = prepare_inputs(self.config, self.pipeline, frame)
        stamps = pd.DatetimeIndex(pd.to_datetime(list(origins), utc=True))
        positions = inputs.stamps.get_indexer(stamps)
        usable = self._usable(inputs, positions)
        step = pd.Timedelta(to_offset(self.pipeline.params.freq))
        forecasts = {}
        for name in self.members if names is None else names:
            values = np.full((len(stamps), self.horizon, len(self.quantiles)), np.nan)
            if usable.any():
                values[usable] = self._predict(inputs, positions[usable], name)
            forecasts[name] = ManyForecasts(stamps, step, self.quantiles, values, usable)
        return forecasts

    def _usable(self, inputs: SeriesInputs, positions: np.ndarray) -> np.ndarray:
        return usable_origins(self.config, inputs, positions)

    def _predict(
        self, inputs: SeriesInputs, positions: np.ndarray, name: str | None = None
    ) -> np.ndarray:
        name = name or self.serving
        median = self.members[name].predict(inputs, positions).median
        scale = local_scale(inputs, positions, self.context, self.horizon)
        return self.calibrations[name].apply(median, scale)

    def _future_known(self, future_known: pd.DataFrame | None) -> pd.DataFrame | None:
        if not self.config.known:
            return None
        if future_known is None or len(future_known) < self.horizon:
            raise PreprocessingError(
                f"the model uses known covariates {list(self.config.known)}: give them for "
                f"the {self.horizon} forecast steps"
            )
        missing = [c for c in self.config.known if c not in future_known.columns]
        if missing:
            raise PreprocessingError(f"future known covariates lack column {missing[0]!r}")
        values = future_known[list(self.config.known)].iloc[: self.horizon]
        if not np.isfinite(values.to_numpy(float)).all():
            raise PreprocessingError("future known covariates hold NaN or infinite values")
        return values

    # -- storage -------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """What was chosen and why, for the API, the registry and the dashboard (JSON)."""
        return {
            "serving": self.serving,
            "fallback": self.fallback,
            "context": self.context,
            "coverage": self.calibrations[self.serving].coverage,
            "selection": self.selection.to_dict(),
            "mode": asdict(self.mode) if self.mode else None,
        }

    def save(self, path: Path | io.BytesIO) -> None:
        """One checkpoint: every member's tensors plus one JSON document."""
        documents, tensors = [], {}
        for index, member in enumerate(self.members.values()):
            document, member_tensors = member_to_document(member)
            documents.append(document)
            tensors.update({f"{index}.{key}": value for key, value in member_tensors.items()})
        save_checkpoint(
            path,
            tensors,
            {
                "model": FORMAT,
                "config": self.config.to_dict(),
                "pipeline": self.pipeline.to_json(),
                "members": documents,
                "calibrations": {k: v.to_dict() for k, v in self.calibrations.items()},
                "serving": self.serving,
                "fallback": self.fallback,
                "selection": self.selection.to_dict(),
                "mode": asdict(self.mode) if self.mode else None,
                "known_inputs": self.known_inputs,
                "warm_start": self.warm_start,
            },
        )

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.save(buffer)
        return buffer.getvalue()

    @staticmethod
    def load(path: Path | io.BytesIO, device: str = "auto") -> FittedLineModel:
        """A saved line model on `device`; ValueError for anything else (older models too)."""
        target = str(pick_device(device))
        tensors, document = load_checkpoint(path, map_location=target)
        if document.get("model") != FORMAT:
            raise ValueError(
                f"the file is not a line model of this linecast version ({FORMAT}); retrain it"
            )
        members: dict[str, Member] = {}
        # Ensembles name their parts, so the parts are read first.
        stored = sorted(enumerate(document["members"]), key=lambda x: x[1]["kind"] == "ensemble")
        for index, part in stored:
            prefix = f"{index}."
            own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            member = member_from_document(part, own, target, members)
            members[member.name] = member
        members = {part["name"]: members[part["name"]] for part in document["members"]}
        mode = document.get("mode")
        return FittedLineModel(
            LineModelConfig.from_dict(document["config"]),
            Pipeline.from_json(document["pipeline"]),
            members,
            {k: IntervalCalibration.from_dict(v) for k, v in document["calibrations"].items()},
            document["serving"],
            document["fallback"],
            SelectionReport.from_dict(document["selection"]),
            ModeChoice(**mode) if mode else None,
            document.get("warm_start"),
        )

    @staticmethod
    def from_bytes(data: bytes, device: str = "auto") -> FittedLineModel:
        return FittedLineModel.load(io.BytesIO(data), device=device)

    @property
    def known_inputs(self) -> list[str]:
        """The known covariates a network reads, in order: the user's, then the calendar's."""
        names = list(self.config.known)
        calendar = self.config.calendar_features()
        if calendar is not None:
            names += feature_names(calendar)
        return names


def prepare_inputs(
    config: LineModelConfig,
    pipeline: Pipeline,
    frame: pd.DataFrame,
    future_known: pd.DataFrame | None = None,
) -> SeriesInputs:
    """The series on the pipeline's grid with its covariates; the known ones run H steps past
    the last stamp (the user's plan from `future_known`, NaN without one; the calendar)."""
    y = pipeline.clean(_column(frame, config.target))
    stamps = pd.DatetimeIndex(y.index)
    ahead = pipeline.forecast_stamps(stamps[-1], config.horizon)
    known = []
    for name in config.known:
        plan = np.full((config.horizon, 1), np.nan)
        if future_known is not None:
            plan = future_known[name].to_numpy(float)[: config.horizon, None]
        known.append(np.vstack([_on_grid(frame, name, stamps), plan]))
    calendar = config.calendar_features()
    if calendar is not None:
        known.append(calendar_features(stamps.append(ahead), calendar).to_numpy())
    observed = [_on_grid(frame, name, stamps) for name in config.observed]
    return SeriesInputs(
        values=y.to_numpy(float),
        steps=pipeline.steps_of(stamps).astype(np.int64),
        stamps=stamps,
        known=_stack(known, len(stamps) + config.horizon),
        observed=_stack(observed, len(stamps)),
    )


def last_origin(inputs: SeriesInputs, context: int) -> tuple[int, int]:
    """The last row, the origin of a forecast of what follows the data, and how many of its
    `context` steps hold no reading; PreprocessingError where too few or too many do not."""
    last = len(inputs) - 1
    if len(inputs) < context:
        raise PreprocessingError(
            f"the model reads {context} steps before the forecast; the data span only {len(inputs)}"
        )
    missing = int((~np.isfinite(inputs.values[last + 1 - context :])).sum())
    if missing > MAX_PLACEHOLDER_SHARE * context:
        raise PreprocessingError(
            f"{missing} of the last {context} steps before the forecast are missing; "
            f"at most {MAX_PLACEHOLDER_SHARE:.0%} may be"
        )
    return last, missing


def usable_origins(
    config: LineModelConfig, inputs: SeriesInputs, positions: np.ndarray
) -> np.ndarray:
    """(n,) which origins (rows of `inputs`, -1 for a stamp not on the grid) can be forecast:
    a reading at the origin, `context` steps before it at most `MAX_PLACEHOLDER_SHARE`
    missing, and with known columns their plan for the H steps after it."""
    assert config.context is not None  # resolved by fit
    context, horizon = config.context, config.horizon
    usable = (positions >= context - 1) & (positions < len(inputs))
    safe = np.where(usable, positions, context - 1)
    usable &= np.isfinite(inputs.values[safe]) if len(inputs) else False
    usable &= placeholder_share(inputs, safe, context) <= MAX_PLACEHOLDER_SHARE
    if config.known:
        ahead = inputs.known[safe[:, None] + np.arange(1, horizon + 1)]
        usable &= np.isfinite(ahead).all(axis=(1, 2))
    return usable


def warm_states(data: bytes) -> dict[str, dict[str, torch.Tensor]]:
    """The network weights of a saved line model, by member name (ensemble parts included)."""
    donor = FittedLineModel.from_bytes(data, device="cpu")
    return {
        member.name: member.forecaster.network.state_dict()
        for member in _networks(donor.members.values())
        if member.forecaster.network is not None
    }


def _networks(members: Any) -> list[NetworkMember]:
    found = []
    for member in members:
        if isinstance(member, NetworkMember):
            found.append(member)
        found += _networks(getattr(member, "parts", ()))
    return found


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        raise PreprocessingError(f"column {name!r} not in the data; columns: {list(frame.columns)}")
    return frame[name]


def _on_grid(frame: pd.DataFrame, name: str, grid: pd.DatetimeIndex) -> np.ndarray:
    """A covariate regularised onto the target's grid (short gaps filled, long ones NaN)."""
    column = _column(frame, name)
    if not np.isfinite(column.to_numpy(float)).any():
        raise PreprocessingError(f"covariate {name!r} has no finite values")
    values, _ = regularise(column, RegulariseConfig(freq=grid.freqstr))
    return values.reindex(grid).to_numpy(float)[:, None]


def _stack(parts: list[np.ndarray], rows: int) -> np.ndarray:
    return np.hstack(parts) if parts else np.zeros((rows, 0))
