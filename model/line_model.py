"""One production line's forecaster: preprocessing pipeline, calendar features and GRU together.

`fit(frame)` cleans the target with `preprocessing.Pipeline`, trains the network on the
stationary, scaled series it gives (with the plant's local-time calendar features as known
covariates), and picks the training mode: with `mode="auto"`, DSF when the preprocessed series
passes the stationarity tests and exact BPTT otherwise, since DSF's fixed filter assumes
stationary dynamics. `forecast(frame)` reads the latest context, forecasts in the transformed
space and returns the forecast in the plant's units. Everything needed to do so (pipeline
parameters, calendar, columns, the mode and why) travels in one checkpoint, as JSON.

The frame is indexed by time (any time zone; UTC is used throughout) and holds the target and
any covariate columns. Long gaps stay gaps: rows in them are placeholders that no training
window touches, and a forecast whose context reaches into one is refused.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from model.forecaster import Forecaster
from model.network import NetworkConfig
from model.trainer import TrainConfig
from model.windows import MAX_PLACEHOLDER_SHARE, SeriesArrays
from preprocessing.calendar import CalendarConfig, calendar_features, feature_names
from preprocessing.pipeline import Pipeline, PipelineConfig, PreprocessingError
from preprocessing.regularise import RegulariseConfig, regularise


@dataclass(frozen=True)
class LineSpec:
    """Which columns play which part, and how to preprocess and choose the mode.

    `mode`: "auto" (from the preprocessing verdict) or any `model.modes` mode, forced.
    `calendar`: local-time calendar features added to the known covariates; None for none.
    """

    target: str
    known: tuple[str, ...] = ()
    observed: tuple[str, ...] = ()
    mode: str = "auto"
    calendar: CalendarConfig | None = field(default_factory=CalendarConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "known": list(self.known),
            "observed": list(self.observed),
            "mode": self.mode,
            "calendar": asdict(self.calendar) if self.calendar else None,
            "pipeline": self.pipeline.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineSpec:
        calendar = data.get("calendar")
        return cls(
            target=data["target"],
            known=tuple(data["known"]),
            observed=tuple(data["observed"]),
            mode=data["mode"],
            calendar=CalendarConfig(**calendar) if calendar else None,
            pipeline=PipelineConfig.from_dict(data["pipeline"]),
        )


@dataclass(frozen=True)
class ModeChoice:
    """The mode asked for, the one used, and why (recorded in the checkpoint)."""

    requested: str
    used: str
    reason: str


@dataclass(frozen=True)
class LineForecast:
    """Forecast in original units: `values` has one column per quantile ("q0.1", "q0.5", ...)
    and the forecast stamps (UTC) as index; `origin` is the last reading used and
    `filled_context` the context steps that were missing and read as the expectation."""

    values: pd.DataFrame
    origin: pd.Timestamp
    filled_context: int


class LineModel:
    """`fit(frame) -> self`, `forecast(frame, future_known) -> DataFrame`, `save`, `load`."""

    def __init__(
        self,
        spec: LineSpec,
        network: NetworkConfig,
        training: TrainConfig,
        device: str = "auto",
    ) -> None:
        self.spec = spec
        self.network_config = network
        self.train_config = training
        self.device = device
        self.pipeline: Pipeline | None = None
        self.forecaster: Forecaster | None = None
        self.mode: ModeChoice | None = None
        # What `fit` did with `initial_weights`; None when none were given.
        self.warm_start: str | None = None

    @property
    def horizon(self) -> int:
        return self.network_config.horizon

    @property
    def context(self) -> int:
        return self.train_config.context

    def fit(
        self,
        frame: pd.DataFrame,
        progress: bool = False,
        on_epoch: Callable[[int, int, float], None] | None = None,
        initial_weights: bytes | None = None,
    ) -> LineModel:
        """Preprocess the target, choose the mode, train. ValueError names what is wrong.

        `on_epoch(epoch, max_epochs, validation_loss)` is called after each epoch.
        `initial_weights` (a saved line model, e.g. the one in service) starts training from its
        network weights when its network has the same shape; otherwise training starts from
        scratch. `warm_start` says which happened, and why.
        """
        target = _column(frame, self.spec.target)
        pipeline = Pipeline(self.spec.pipeline).fit(target)
        z = pipeline.transform(pipeline.clean(target))
        known, observed = self._covariates(frame, z.index)
        valid = np.isfinite(z.to_numpy()) & _finite_rows(known) & _finite_rows(observed)
        arrays = SeriesArrays.of(
            np.nan_to_num(z.to_numpy(), nan=0.0), _fill(known), _fill(observed)
        )
        report = pipeline.report
        assert report is not None  # set by fit
        if self.spec.mode == "auto":
            mode = ModeChoice("auto", report.recommended_mode, report.dsf_verdict)
        else:
            mode = ModeChoice(self.spec.mode, self.spec.mode, "forced by configuration")
        network = replace(self.network_config, known=known.shape[1], observed=observed.shape[1])
        initial_state = None
        if initial_weights is not None:
            initial_state, self.warm_start = _warm_start_state(initial_weights, network)
        forecaster = Forecaster(network, replace(self.train_config, mode=mode.used), self.device)
        forecaster.fit(
            arrays,
            progress=progress,
            valid=valid,
            on_epoch=on_epoch,
            initial_state=initial_state,
        )
        self.pipeline, self.forecaster, self.mode = pipeline, forecaster, mode
        self.network_config = network
        return self

    def forecast(
        self, frame: pd.DataFrame, future_known: pd.DataFrame | None = None
    ) -> LineForecast:
        """Quantile forecasts for the `horizon` steps after the last reading, in original units.

        `future_known` holds the user's known columns for those steps (row order = step order);
        it is required exactly when the spec names known columns. Missing rows in the context
        (a stop) are read as the pipeline's expectation (trend plus seasons), up to
        `MAX_PLACEHOLDER_SHARE` of it; more is refused, since the forecast would then rest on
        invented data.
        """
        pipeline, forecaster = self._fitted()
        y = pipeline.clean(_column(frame, self.spec.target))
        z = pipeline.transform(y)
        if len(z) < self.context:
            raise PreprocessingError(
                f"the model reads {self.context} steps before the forecast; the data span "
                f"only {len(z)}"
            )
        known, observed = self._covariates(frame, z.index)
        tail = slice(len(z) - self.context, len(z))
        rows_valid = np.isfinite(z.to_numpy()) & _finite_rows(known) & _finite_rows(observed)
        missing = self.context - int(rows_valid[tail].sum())
        if missing > MAX_PLACEHOLDER_SHARE * self.context:
            raise PreprocessingError(
                f"{missing} of the last {self.context} steps before the forecast are missing; "
                f"at most {MAX_PLACEHOLDER_SHARE:.0%} may be"
            )
        stamps = pipeline.forecast_stamps(y.index[-1], self.horizon)
        future = self._future_known(stamps, future_known)
        history = SeriesArrays.of(
            np.nan_to_num(z.to_numpy()[tail], nan=0.0), _fill(known)[tail], _fill(observed)[tail]
        )
        values = forecaster.predict(history, future if future.shape[1] else None).values
        quantiles = self.network_config.quantiles
        original = pipeline.to_original(values, y, median_column=quantiles.index(0.5))
        # Sorting only matters after integrating differences, where per-step spreads add up.
        frame_out = pd.DataFrame(
            np.sort(original.to_numpy(), axis=1),
            index=original.index,
            columns=[f"q{q:g}" for q in quantiles],
        )
        return LineForecast(frame_out, y.index[-1], missing)

    # -- covariates ----------------------------------------------------------------------------

    def _covariates(self, frame: pd.DataFrame, grid: pd.DatetimeIndex) -> tuple[np.ndarray, ...]:
        """Known (user columns, then calendar) and observed columns on the target's grid."""
        known = [_on_grid(frame, name, grid) for name in self.spec.known]
        if self.spec.calendar is not None:
            known.append(calendar_features(grid, self.spec.calendar).to_numpy())
        observed = [_on_grid(frame, name, grid) for name in self.spec.observed]
        return _stack(known, len(grid)), _stack(observed, len(grid))

    def _future_known(
        self, stamps: pd.DatetimeIndex, future_known: pd.DataFrame | None
    ) -> np.ndarray:
        parts = []
        if self.spec.known:
            if future_known is None or len(future_known) < self.horizon:
                raise PreprocessingError(
                    f"the model uses known covariates {list(self.spec.known)}: give them for "
                    f"the {self.horizon} forecast steps"
                )
            missing = [c for c in self.spec.known if c not in future_known.columns]
            if missing:
                raise PreprocessingError(f"future known covariates lack column {missing[0]!r}")
            values = future_known[list(self.spec.known)].to_numpy(float)[: self.horizon]
            if not np.isfinite(values).all():
                raise PreprocessingError("future known covariates hold NaN or infinite values")
            parts.append(values)
        if self.spec.calendar is not None:
            parts.append(calendar_features(stamps, self.spec.calendar).to_numpy())
        return _stack(parts, self.horizon)

    # -- storage -------------------------------------------------------------------------------

    def save(self, path: Path | io.BytesIO) -> None:
        """One checkpoint: weights plus the forecaster's, pipeline's and spec's JSON."""
        pipeline, forecaster = self._fitted()
        forecaster.save(path, extra=self._document(pipeline))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.save(buffer)
        return buffer.getvalue()

    @staticmethod
    def load(path: Path | io.BytesIO, device: str = "auto") -> LineModel:
        forecaster, extra = Forecaster.load(path, device=device)
        if "line" not in extra:
            raise ValueError("model file holds no preprocessing pipeline (trained before it?)")
        model = LineModel(
            LineSpec.from_dict(extra["line"]),
            forecaster.network_config,
            forecaster.train_config,
            device=str(forecaster.device),
        )
        model.pipeline = Pipeline.from_json(extra["pipeline"])
        model.forecaster = forecaster
        model.mode = ModeChoice(**extra["mode"])
        return model

    @staticmethod
    def from_bytes(data: bytes, device: str = "auto") -> LineModel:
        return LineModel.load(io.BytesIO(data), device=device)

    def _document(self, pipeline: Pipeline) -> dict[str, Any]:
        known_names = list(self.spec.known)
        if self.spec.calendar is not None:
            known_names += feature_names(self.spec.calendar)
        return {
            "line": self.spec.to_dict(),
            "pipeline": pipeline.to_json(),
            "mode": asdict(self.mode) if self.mode else None,
            "known_inputs": known_names,
            "freq": pipeline.params.freq if pipeline.params else None,
        }

    def _fitted(self) -> tuple[Pipeline, Forecaster]:
        if self.pipeline is None or self.forecaster is None:
            raise RuntimeError("the line model is not fitted: call fit() or load() first")
        return self.pipeline, self.forecaster


_SHAPING_FIELDS = ("horizon", "quantiles", "hidden", "layers", "known", "observed")


def _warm_start_state(
    data: bytes, network: NetworkConfig
) -> tuple[dict[str, torch.Tensor] | None, str]:
    """The saved model's network weights if they fit `network`, and what was done.

    Only the fields that shape the weights must agree. The saved feedback coefficients λ come
    along with the weights, so the update gates and λ stay matched (see model.recurrent).
    """
    donor, _ = Forecaster.load(io.BytesIO(data), device="cpu")
    differences = [
        f"{name} {getattr(network, name)} here, {getattr(donor.network_config, name)} there"
        for name in _SHAPING_FIELDS
        if getattr(network, name) != getattr(donor.network_config, name)
    ]
    if differences:
        return None, "warm start not possible: " + "; ".join(differences)
    assert donor.network is not None  # set by load
    return donor.network.state_dict(), "warm start from the given weights"


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


def _finite_rows(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values).all(axis=1)


def _fill(values: np.ndarray) -> np.ndarray:
    """Placeholders for missing covariate rows (never read by a training window): the column
    median, so the covariate scaling fitted over all rows is not pulled by them."""
    if values.size == 0 or np.isfinite(values).all():
        return values
    medians = np.nanmedian(np.where(np.isfinite(values), values, np.nan), axis=0)
    return np.where(np.isfinite(values), values, np.nan_to_num(medians)[None, :])
