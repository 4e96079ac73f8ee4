"""One series' view of a global model, with the interface the service reads of a line model.

The service serves, gates and monitors every series through what a `FittedLineModel` offers:
`horizon`, `context`, `quantiles`, `serving`, `pipeline`, `forecast`, `forecast_many`, and for
the gate `members` and `forecast_members`. `GlobalSeriesModel` offers the same for one series
(`key`) of a `FittedGlobalModel`, so a series served by a global model goes through the same
forecasting, gate and drift code as one with a model of its own.

Two differences a caller may meet, both because the network is shared:
* the intervals are the network's own quantiles, not calibrated on the gate's origins as a
  line model's are (the global model is stored once, before any series' gate has run);
* a series the model never trained on (a cold start) has no stored pipeline: each forecast
  fits one on the frame it is given (`model.global_model`). Its `pipeline` is the one its
  latest readings give (`readings`, read once, when first asked for): what the network reads
  at its next forecast, and what drift tests the readings through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from model.forecasts import LineForecast, ManyForecasts
from model.global_model import COLD_START, SEEN, FittedGlobalModel
from model.line_model import prepare_inputs
from preprocessing.pipeline import Pipeline

# The gate's baseline, named as the line model's member is.
REPEAT_LAST = "repeat-last"
# What a version backed by a global model records as its training mode.
TRAINING_MODE = "global"


class GlobalSeriesModel:
    """Series `key` of `model`. Read only for a series it never trained on: `attributes` (its
    static attributes, else the training mean of each) and `readings` (its latest readings,
    for `pipeline`)."""

    def __init__(
        self,
        model: FittedGlobalModel,
        key: str,
        attributes: Mapping[str, float] | None = None,
        readings: Callable[[], pd.DataFrame] | None = None,
    ) -> None:
        self.model, self.key, self.attributes = model, key, attributes
        self._readings = readings
        self._cold_pipeline: Pipeline | None = None

    @property
    def seen(self) -> bool:
        """Whether the network trained on this series."""
        return self.key in self.model.series

    @property
    def horizon(self) -> int:
        return self.model.horizon

    @property
    def context(self) -> int:
        return self.model.context

    @property
    def quantiles(self) -> tuple[float, ...]:
        return self.model.quantiles

    @property
    def serving(self) -> str:
        """`SEEN` ("gru:global") or `COLD_START` ("gru:global-cold-start")."""
        return SEEN if self.seen else COLD_START

    @property
    def training_mode(self) -> str:
        return TRAINING_MODE

    @property
    def members(self) -> tuple[str, ...]:
        """What the gate scores: the network, and repeating the last value beside it."""
        return (self.serving, REPEAT_LAST)

    @property
    def pipeline(self) -> Pipeline:
        """The fitted pipeline the network reads this series through: the stored one, or for
        a cold start the one fitted on its latest readings (ValueError without `readings`)."""
        if self.seen:
            return self.model.series[self.key].pipeline
        if self._cold_pipeline is None:
            if self._readings is None:
                raise ValueError(
                    f"series {self.key!r} is a cold start of the global model: its pipeline is "
                    "fitted on its readings, and none were given"
                )
            state = self.model.state(self.key, self._readings(), self.attributes)
            self._cold_pipeline = state.pipeline
        return self._cold_pipeline

    def forecast(
        self, frame: pd.DataFrame, future_known: pd.DataFrame | None = None
    ) -> LineForecast:
        """The `horizon` steps after the last reading of `frame`. A global model reads no known
        columns, so `future_known` (a line model's argument) must be None."""
        if future_known is not None:
            raise ValueError("a global model reads no known covariates")
        return self.model.forecast(self.key, frame, self.attributes)

    def forecast_many(
        self, frame: pd.DataFrame, origins: Sequence[pd.Timestamp] | pd.DatetimeIndex
    ) -> ManyForecasts:
        """Forecasts from every origin in one batched pass (`FittedGlobalModel.forecast_many`)."""
        return self.model.forecast_many(self.key, frame, origins, self.attributes)

    def forecast_members(
        self,
        frame: pd.DataFrame,
        origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
        names: Sequence[str] | None = None,
    ) -> dict[str, ManyForecasts]:
        """`forecast_many` of the network and of repeat-last (both by default), on the same
        origins: repeat-last reads the cleaned readings a line model's member reads, on the
        same usable origins, with every quantile at its value (the gate scores medians)."""
        network = self.forecast_many(frame, origins)
        wanted = self.members if names is None else tuple(names)
        forecasts: dict[str, ManyForecasts] = {}
        for name in wanted:
            if name == self.serving:
                forecasts[name] = network
            elif name == REPEAT_LAST:
                forecasts[name] = self._repeat_last(frame, network)
            else:
                raise ValueError(f"{name!r} is not a member of a global model's series view")
        return forecasts

    def _repeat_last(self, frame: pd.DataFrame, network: ManyForecasts) -> ManyForecasts:
        pipeline = self.pipeline
        inputs = prepare_inputs(self.model.line, pipeline, frame)
        positions = inputs.stamps.get_indexer(network.origins)
        values = np.full_like(network.values, np.nan)
        usable = network.usable
        last = inputs.values[positions[usable]]  # (n,)
        values[usable] = last[:, None, None]
        step = pd.Timedelta(to_offset(pipeline.params.freq))
        return ManyForecasts(network.origins, step, self.quantiles, values, usable)
