"""One GRU trained on many series at once: the global model.

    fitted = GlobalModel(GlobalModelConfig(LineModelConfig(horizon=24))).fit(frames)
    fitted.forecast("line-3", frame)                  # a series it trained on
    fitted.forecast("new-line", frame)                # one it never saw (cold start)
    fitted.forecast_many("line-3", frame, origins)    # many origins, one batched pass

Each series goes through its own `preprocessing.Pipeline`, fitted and applied exactly as a line
model does for one (`model.line_model.prepare_inputs`), and the network reads each in its own
scaled units (`model.pooled`): what the series share is the network. Training windows are drawn
uniformly over the windows of every series, so each batch mixes series and a longer series
gives more of them. The last rows of every series are held out for validation
(`model.selection.validation_start`, as for a line model) and early stopping reads their pooled
loss. `model.distributed` runs the same training data-parallel.

What a series may add to its readings: a learned vector (`embedding` numbers; 0 builds no
table at all) and static numeric attributes (the same names for every series, standardised over
the training series), both read at every step like observed covariates.

Choices a global model makes, and why:
* one representation for all: each series is read as a level, with its seasonal profiles and
  the trend its stationarity tests chose, except that where they chose differencing a robust
  linear trend is removed instead. One network has one anchor (`model.network`): a differenced
  input would have it forecast changes for some series and levels for others;
* mode "auto" trains with DSF: a line model checks DSF against exact BPTT by racing two
  networks on its one series, which is not done here; force "bptt" where the series stay
  non-stationary after preprocessing (method.md §6);
* no user known columns (calendar features are fine): a forecast would need every series' plan;
* the quantiles are the network's own, not calibrated on validation origins as a line model's.

A series the model never trained on (cold start) is forecast through a pipeline fitted on the
frame given with it, with the mean of the learned vectors (`model.network.UNSEEN`: the centre of
the series seen, where a zero or a random vector might lie where no training series did), and
its attributes if given, else the training mean of each.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.tseries.frequencies import to_offset

from model.checkpoint import load_checkpoint, save_checkpoint
from model.config import LineModelConfig
from model.device import pick_device
from model.forecaster import evenly, forecast_windows
from model.forecasts import LineForecast, ManyForecasts
from model.line_model import last_origin, prepare_inputs, usable_origins
from model.members import Representation, SeriesInputs
from model.members.base import to_original
from model.members.network import network_arrays, valid_rows
from model.network import UNSEEN, ForecastNetwork, NetworkConfig
from model.pooled import PooledWindows, SeriesWindows, StaticAttributes, attribute_rows
from model.selection import validation_start
from model.shard import SINGLE, Shard
from model.trainer import Training, TrainReport
from model.windows import Scaling, SeriesArrays, WindowMaker
from preprocessing.pipeline import Pipeline, PreprocessingError

FORMAT = "linecast-global-model/1"
# Numbers in each series' learned vector: enough to tell a few hundred series apart, too few to
# memorise each (a common size for entity embeddings; not tuned here).
DEFAULT_EMBEDDING = 8
# What `LineForecast.model` names: the network, for a series it trained on or not.
SEEN, COLD_START = "gru:global", "gru:global-cold-start"


@dataclass(frozen=True)
class GlobalModelConfig:
    """What to train for many series; stored with the model, so a run can be repeated.

    `line` holds every setting a line model has (horizon, context, network, training,
    preprocessing), so each default lives once; its `candidates` are not read. `context` None
    is chosen per series as for a line model (`LineModelConfig.resolve`), and the shortest
    wins. `embedding`: numbers in each series' learned vector; 0 for none.
    """

    line: LineModelConfig
    embedding: int = DEFAULT_EMBEDDING

    def __post_init__(self) -> None:
        if self.embedding < 0:
            raise ValueError(f"embedding must be 0 or positive, got {self.embedding}")
        if self.line.known:
            raise ValueError(
                "a global model reads no known columns (a forecast would need every series' "
                "plan); calendar features and observed columns are fine"
            )
        if self.line.trend == "difference":
            raise ValueError("a global model reads levels: choose a trend other than difference")

    @property
    def mode(self) -> str:
        """The training mode: the line's, with "auto" meaning DSF (see the module)."""
        return "dsf" if self.line.mode == "auto" else self.line.mode

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line.to_dict(), "embedding": self.embedding}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> GlobalModelConfig:
        return GlobalModelConfig(LineModelConfig.from_dict(data["line"]), data["embedding"])


@dataclass(frozen=True)
class PreparedSeries:
    """One series ready to train on: the pipeline the network reads it through, its inputs on
    the grid, its first validation row and its attributes (in `StaticAttributes.names` order)."""

    key: str
    pipeline: Pipeline
    inputs: SeriesInputs
    split: int
    attributes: tuple[float, ...] | None


@dataclass(frozen=True)
class GlobalData:
    """Every series prepared, with the config resolved: plain data, so `model.distributed`
    prepares once and hands the same to every process."""

    config: GlobalModelConfig
    series: tuple[PreparedSeries, ...]
    statics: StaticAttributes


@dataclass(frozen=True)
class SeriesState:
    """What a fitted model keeps of a series: the pipeline it reads through, its scaling, its
    row of the embedding table (`UNSEEN` for a cold start) and its attributes as given."""

    pipeline: Pipeline
    scaling: Scaling
    index: int
    attributes: tuple[float, ...] | None


class GlobalModel:
    """`GlobalModel(config).fit(frames, attributes) -> FittedGlobalModel`."""

    def __init__(self, config: GlobalModelConfig, device: str = "auto") -> None:
        self.config = config
        self.device = device

    def fit(
        self,
        frames: Mapping[str, pd.DataFrame],
        attributes: Mapping[str, Mapping[str, float]] | None = None,
        shard: Shard = SINGLE,
        progress: bool = False,
    ) -> FittedGlobalModel:
        """Preprocess every series, then train (`prepare`, `train`). ValueError names the
        series and what is wrong with it."""
        return self.train(self.prepare(frames, attributes), shard, progress)

    def prepare(
        self,
        frames: Mapping[str, pd.DataFrame],
        attributes: Mapping[str, Mapping[str, float]] | None = None,
    ) -> GlobalData:
        """Fit each series' pipeline and put it on its grid; choose the context.

        `frames` maps a series key to its frame (indexed by time, with the target column and
        any observed ones); `attributes` maps every key to the same named numbers, or is None.
        """
        if not frames:
            raise ValueError("a global model needs at least one series")
        names, rows = attribute_rows(list(frames), attributes)
        line = self.config.line
        fitted = {key: _fit_series(line, key, frame) for key, frame in frames.items()}
        context = min(
            line.resolve(pd.Timedelta(to_offset(pipeline.params.freq)), len(inputs)).context
            for pipeline, inputs in fitted.values()
        )
        line = replace(line, context=context)
        prepared = []
        for (key, (pipeline, inputs)), values in zip(fitted.items(), rows, strict=True):
            try:
                split = validation_start(len(inputs), line.horizon, context)
            except ValueError as error:
                raise PreprocessingError(f"series {key!r}: {error}") from error
            variant = level_representation(pipeline).fit(pipeline, inputs, split)
            prepared.append(PreparedSeries(key, variant, inputs, split, values))
        statics = StaticAttributes.fit(names, [s.attributes or () for s in prepared])
        return GlobalData(replace(self.config, line=line), tuple(prepared), statics)

    def train(
        self, data: GlobalData, shard: Shard = SINGLE, progress: bool = False
    ) -> FittedGlobalModel:
        """Train on prepared series for the whole budget, keeping the best epoch."""
        run = self.start(data, shard, progress)
        run.training.run(data.config.line.epochs)
        return run.finish()

    def start(self, data: GlobalData, shard: Shard = SINGLE, progress: bool = False) -> GlobalRun:
        """Set up training on prepared series: `run.training.run(epochs)`, then `finish()`.

        With a `shard`, this process trains its share of each batch (`model.distributed`
        starts the processes and their group); every rank must call this with the same data.
        """
        config, line = data.config, data.config.line
        assert line.context is not None  # resolved by prepare
        if line.batch_size < shard.world:
            raise ValueError(
                f"batch_size {line.batch_size} leaves a rank of {shard.world} without rows"
            )
        training_config = line.training(config.mode)
        scalings, windows, train, validation = [], [], [], []
        per_series = max(1, training_config.validation_windows // len(data.series))
        for index, series in enumerate(data.series):
            arrays = network_arrays(series.pipeline, series.inputs, line.horizon)
            history = _head(arrays, len(series.inputs))
            scaling = Scaling.fit(_head(history, series.split))
            maker = WindowMaker(
                history,
                scaling,
                line.context,
                line.horizon,
                valid=valid_rows(series.pipeline, series.inputs),
            )
            own = maker.usable_starts(maker.starts(line.context, series.split))
            held = evenly(maker.usable_starts(maker.starts(series.split, len(history))), per_series)
            scalings.append(scaling)
            statics = data.statics.scaled(series.attributes)
            windows.append(SeriesWindows(maker, index, statics))
            train.append(np.column_stack([np.full(len(own), index), own]))
            validation.append(np.column_stack([np.full(len(held), index), held]))
        train_starts, validation_starts = np.concatenate(train), np.concatenate(validation)
        if len(train_starts) == 0 or len(validation_starts) == 0:
            raise ValueError("the series leave no complete training or validation windows")
        torch.manual_seed(line.seed)
        network = ForecastNetwork(_network_config(config, data))
        device = pick_device(self.device)
        training = Training(
            network,
            PooledWindows(windows),
            train_starts.astype(np.int64),
            validation_starts.astype(np.int64),
            training_config,
            device,
            progress=progress,
            shard=shard,
        )
        return GlobalRun(data, tuple(scalings), training)


@dataclass
class GlobalRun:
    """A global model in training (`GlobalModel.start`)."""

    data: GlobalData
    scalings: tuple[Scaling, ...]
    training: Training

    def finish(self) -> FittedGlobalModel:
        """The best weights (or the untrained ones) as a fitted model."""
        report = self.training.finish()
        states = {
            series.key: SeriesState(series.pipeline, scaling, index, series.attributes)
            for index, (series, scaling) in enumerate(
                zip(self.data.series, self.scalings, strict=True)
            )
        }
        return FittedGlobalModel(
            self.data.config, self.training.network, states, self.data.statics, report
        )


class FittedGlobalModel:
    """A trained global network with what it needs to read each series it knows."""

    def __init__(
        self,
        config: GlobalModelConfig,
        network: ForecastNetwork,
        series: dict[str, SeriesState],
        statics: StaticAttributes,
        report: TrainReport | None,
    ) -> None:
        self.config, self.network, self.series = config, network.eval(), series
        self.statics, self.report = statics, report

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.series)

    @property
    def line(self) -> LineModelConfig:
        return self.config.line

    @property
    def horizon(self) -> int:
        return self.line.horizon

    @property
    def context(self) -> int:
        assert self.line.context is not None  # resolved by prepare
        return self.line.context

    @property
    def quantiles(self) -> tuple[float, ...]:
        return self.network.config.quantiles

    # -- forecasting ---------------------------------------------------------------------------

    def forecast(
        self, key: str, frame: pd.DataFrame, attributes: Mapping[str, float] | None = None
    ) -> LineForecast:
        """The `horizon` steps after the last reading of series `key` (see the module for a
        key the model never trained on, the only case where `attributes` are read)."""
        state = self.state(key, frame, attributes)
        inputs = prepare_inputs(self.line, state.pipeline, frame)
        last, missing = last_origin(inputs, self.context)
        values = self._predict(state, inputs, np.array([last]))[0]
        stamps = state.pipeline.forecast_stamps(inputs.stamps[last], self.horizon)
        name = SEEN if key in self.series else COLD_START
        return LineForecast(stamps, self.quantiles, values, inputs.stamps[last], missing, name)

    def forecast_many(
        self,
        key: str,
        frame: pd.DataFrame,
        origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
        attributes: Mapping[str, float] | None = None,
    ) -> ManyForecasts:
        """Forecasts of series `key` from every origin (a stamp of a reading in `frame`), in
        one batched pass; see `ManyForecasts` for the origins that cannot be forecast."""
        state = self.state(key, frame, attributes)
        inputs = prepare_inputs(self.line, state.pipeline, frame)
        stamps = pd.DatetimeIndex(pd.to_datetime(list(origins), utc=True))
        positions = inputs.stamps.get_indexer(stamps)
        usable = usable_origins(self.line, inputs, positions)
        values = np.full((len(stamps), self.horizon, len(self.quantiles)), np.nan)
        if usable.any():
            values[usable] = self._predict(state, inputs, positions[usable])
        step = pd.Timedelta(to_offset(state.pipeline.params.freq))
        return ManyForecasts(stamps, step, self.quantiles, values, usable)

    def state(
        self, key: str, frame: pd.DataFrame, attributes: Mapping[str, float] | None
    ) -> SeriesState:
        """The stored state of a series trained on, or a cold start's, fitted on `frame`."""
        if key in self.series:
            return self.series[key]
        pipeline, inputs = _fit_series(self.line, key, frame)
        variant = level_representation(pipeline).fit(pipeline, inputs, len(inputs))
        history = _head(network_arrays(variant, inputs, self.horizon), len(inputs))
        return SeriesState(
            variant, Scaling.fit(history), UNSEEN, self.statics.values_of(attributes)
        )

    def _predict(
        self, state: SeriesState, inputs: SeriesInputs, positions: np.ndarray
    ) -> np.ndarray:
        """(n, H, Q) forecasts in original units from origins `positions`."""
        arrays = network_arrays(state.pipeline, inputs, self.horizon)
        maker = WindowMaker(arrays, state.scaling, self.context, self.horizon)
        windows = SeriesWindows(maker, state.index, self.statics.scaled(state.attributes))
        device = next(self.network.parameters()).device
        z = forecast_windows(
            self.network,
            windows.inputs,
            positions + 1,
            self.context,
            state.scaling.forecast_scale,
            device,
        )
        return to_original(state.pipeline, inputs, positions, z)

    # -- storage -------------------------------------------------------------------------------

    def save(self, path: Path | io.BytesIO) -> None:
        """One checkpoint: the network's tensors plus one JSON document."""
        series = [
            {
                "key": key,
                "index": state.index,
                "pipeline": state.pipeline.to_json(with_report=False),
                "scaling": state.scaling.to_dict(),
                "attributes": None if state.attributes is None else list(state.attributes),
            }
            for key, state in self.series.items()
        ]
        document = {
            "model": FORMAT,
            "config": self.config.to_dict(),
            "network": self.network.config.to_json(),
            "statics": asdict(self.statics),
            "series": series,
            "report": self.report.to_json() if self.report else None,
        }
        save_checkpoint(path, self.network.state_dict(), document)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.save(buffer)
        return buffer.getvalue()

    @staticmethod
    def load(path: Path | io.BytesIO, device: str = "auto") -> FittedGlobalModel:
        """A saved global model on `device` (any loads on a CPU-only machine); ValueError for
        any other file."""
        target = pick_device(device)
        tensors, document = load_checkpoint(path, map_location=target)
        if document.get("model") != FORMAT:
            raise ValueError(f"the file is not a global model of this linecast version ({FORMAT})")
        network = ForecastNetwork(NetworkConfig.from_json(document["network"])).to(target)
        network.load_state_dict(tensors)
        statics = document["statics"]
        series = {
            part["key"]: SeriesState(
                Pipeline.from_json(part["pipeline"]),
                Scaling.from_dict(part["scaling"]),
                part["index"],
                None if part["attributes"] is None else tuple(part["attributes"]),
            )
            for part in document["series"]
        }
        return FittedGlobalModel(
            GlobalModelConfig.from_dict(document["config"]),
            network,
            series,
            StaticAttributes(*(tuple(statics[name]) for name in ("names", "mean", "std"))),
            TrainReport(**document["report"]) if document.get("report") else None,
        )

    @staticmethod
    def from_bytes(data: bytes, device: str = "auto") -> FittedGlobalModel:
        return FittedGlobalModel.load(io.BytesIO(data), device=device)


def level_representation(pipeline: Pipeline) -> Representation:
    """How a global model reads a series: its seasonal profiles and fitted trend, a robust
    linear trend where differencing was chosen (see the module)."""
    params = pipeline.params
    assert params is not None  # fitted
    kind = params.trend.kind
    return Representation(
        seasonal=bool(params.seasonal), trend="robust-linear" if kind == "difference" else kind
    )


def _fit_series(
    line: LineModelConfig, key: str, frame: pd.DataFrame
) -> tuple[Pipeline, SeriesInputs]:
    """A series' fitted pipeline and its inputs on the grid; errors name the series."""
    try:
        if line.target not in frame.columns:
            raise PreprocessingError(
                f"column {line.target!r} not in the data; columns: {list(frame.columns)}"
            )
        pipeline = Pipeline(line.pipeline()).fit(frame[line.target])
        return pipeline, prepare_inputs(line, pipeline, frame)
    except PreprocessingError as error:
        raise PreprocessingError(f"series {key!r}: {error}") from error


def _network_config(config: GlobalModelConfig, data: GlobalData) -> NetworkConfig:
    """The line's network, reading the series' observed columns, their static attributes and
    (with an embedding) their learned vectors."""
    inputs = data.series[0].inputs
    observed = inputs.observed.shape[1] + len(data.statics.names)
    network = config.line.network("last", inputs.known.shape[1], observed)
    if not config.embedding:
        return network
    return replace(network, series=len(data.series), embedding=config.embedding)


def _head(arrays: SeriesArrays, rows: int) -> SeriesArrays:
    """The first `rows` rows of `arrays`: the readings without the forecast's placeholder rows
    (`network_arrays`), or the training rows alone."""
    return SeriesArrays(arrays.target[:rows], arrays.known[:rows], arrays.observed[:rows])
