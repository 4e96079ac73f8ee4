"""The user-facing forecaster: `fit(series) -> self`, `predict(series) -> Forecast`, save, load.

It holds the hyper-parameters and the fitted scaling; the `nn.Module` lives in `model.network`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from model.checkpoint import load_checkpoint, save_checkpoint
from model.device import pick_device
from model.network import Anchor, ForecastNetwork, NetworkConfig
from model.trainer import TrainConfig, Training, TrainReport
from model.windows import MAX_PLACEHOLDER_SHARE, Batch, Scaling, SeriesArrays, WindowMaker


@dataclass(frozen=True)
class Forecast:
    """Quantile forecasts in the series' own units: values (H, Q), one column per quantile."""

    quantiles: tuple[float, ...]
    values: np.ndarray

    @property
    def median(self) -> np.ndarray:
        return self.values[:, self.quantiles.index(0.5)]


class Forecaster:
    """A GRU forecaster trained in any mode of `model.modes` (DSF by default)."""

    def __init__(self, network: NetworkConfig, training: TrainConfig, device: str = "auto"):
        self.network_config = network
        self.train_config = training
        self.device = pick_device(device)
        self.network: ForecastNetwork | None = None
        self.scaling: Scaling | None = None
        self.report: TrainReport | None = None

    @property
    def horizon(self) -> int:
        return self.network_config.horizon

    @property
    def context(self) -> int:
        return self.train_config.context

    def minimum_rows(self) -> int:
        """Rows `fit` needs: training windows, then a validation split of a few horizons."""
        return self.context + self.horizon + max(2 * self.horizon, 8)

    def fit(
        self,
        series: SeriesArrays,
        progress: bool = False,
        validation_start: int | None = None,
        valid: np.ndarray | None = None,
        on_epoch: Callable[[int, int, float], None] | None = None,
        initial_state: dict[str, torch.Tensor] | None = None,
    ) -> Forecaster:
        """Train on `series` for the whole budget (see `start`), keeping the best epoch."""
        training = self.start(series, validation_start, valid, initial_state, progress=progress)
        training.run(self.train_config.max_epochs, on_epoch=on_epoch)
        self.finish(training)
        return self

    def start(
        self,
        series: SeriesArrays,
        validation_start: int | None = None,
        valid: np.ndarray | None = None,
        initial_state: dict[str, torch.Tensor] | None = None,
        progress: bool = False,
    ) -> Training:
        """Set up training on `series`, holding out its last rows for validation; `run` the
        returned `Training` for as many epochs as wanted, then `finish` it here.

        Validation starts at row `validation_start` (by default after the first
        `1 - validation_fraction` of the rows); training windows end before it, and the scaling
        is fitted on the rows before it only. `valid` (N,) marks rows that hold real readings;
        the others are placeholders in a gap: never scored, and a window holding more than
        `MAX_PLACEHOLDER_SHARE` of them is not used. `initial_state` (a state dict of a network
        with this configuration) is loaded first, to continue from earlier weights.
        """
        if len(series) < self.minimum_rows():
            raise ValueError(
                f"{len(series)} rows are too few for context {self.context} and horizon "
                f"{self.horizon}: at least {self.minimum_rows()} are needed"
            )
        split = self._default_split(len(series)) if validation_start is None else validation_start
        self.scaling = Scaling.fit(
            SeriesArrays(series.target[:split], series.known[:split], series.observed[:split]),
            anchor=self.network_config.anchor,
        )
        maker = WindowMaker(
            series, self.scaling, self.context, self.horizon, valid=valid, anchor=self.anchor
        )
        train_starts = maker.usable_starts(maker.starts(self.context, split))
        validation_starts = evenly(
            maker.usable_starts(maker.starts(split, len(series))),
            self.train_config.validation_windows,
        )
        if len(train_starts) == 0 or len(validation_starts) == 0:
            raise ValueError(
                f"{len(series)} rows leave no complete training or validation windows "
                f"(at most {MAX_PLACEHOLDER_SHARE:.0%} of a window may lie in gaps)"
            )
        torch.manual_seed(self.train_config.seed)
        self.network = ForecastNetwork(self.network_config)
        if initial_state is not None:
            self.network.load_state_dict(initial_state)
        return Training(
            self.network,
            maker,
            train_starts,
            validation_starts,
            self.train_config,
            self.device,
            progress=progress,
        )

    def finish(self, training: Training) -> None:
        """Keep the best weights of `training` (started by `start`) and its report."""
        self.report = training.finish()

    @property
    def anchor(self) -> Anchor:
        return self.network_config.anchor

    def _default_split(self, rows: int) -> int:
        """First validation row: after the training share, leaving at least one horizon."""
        split = int(rows * (1 - self.train_config.validation_fraction))
        return min(max(split, rows - max(rows // 2, self.horizon + 8)), rows - self.horizon)

    def forecast_at(
        self, series: SeriesArrays, origins: np.ndarray, batch_rows: int = 512
    ) -> np.ndarray:
        """Forecasts (n, H, Q) whose first step is row `origin`, for each origin.

        Reads target and observed rows [origin - context, origin) and known rows up to
        origin + H; the target beyond an origin is never read, so it may be a placeholder.
        """
        network, scaling = self._fitted()
        origins = np.asarray(origins)
        if len(origins) and (
            origins.min() < self.context or origins.max() + self.horizon > len(series)
        ):
            raise ValueError(
                f"origins need {self.context} rows of context and "
                f"{self.horizon} rows of known covariates after them"
            )
        maker = WindowMaker(series, scaling, self.context, self.horizon, anchor=self.anchor)
        return forecast_windows(
            network,
            maker.inputs,
            origins,
            self.context,
            scaling.forecast_scale,
            self.device,
            batch_rows,
        )

    def predict(self, series: SeriesArrays, future_known: np.ndarray | None = None) -> Forecast:
        """Forecast the H steps after the end of `series` (its last `context` rows are read).

        `future_known` (H, K) gives the known covariates of the forecast steps; it is required
        exactly when the model was trained with known covariates.
        """
        known_columns = self.network_config.known
        if len(series) < self.context:
            raise ValueError(f"need at least {self.context} rows of context, got {len(series)}")
        if known_columns and (
            future_known is None or np.shape(future_known) != (self.horizon, known_columns)
        ):
            raise ValueError(f"future_known must have shape ({self.horizon}, {known_columns})")
        pad = np.zeros(self.horizon)
        extended = SeriesArrays.of(
            np.concatenate([series.target, pad]),  # placeholders: never read, see forecast_at
            np.concatenate([series.known, np.reshape(future_known, (self.horizon, -1))])
            if known_columns
            else None,
            np.concatenate([series.observed, np.zeros((self.horizon, series.observed.shape[1]))]),
        )
        values = self.forecast_at(extended, np.array([len(series)]))[0]
        return Forecast(self.network_config.quantiles, values)

    def save(self, path: Path | BinaryIO, extra: dict | None = None) -> None:
        """Write weights and configuration, with `extra` (JSON, e.g. column names) alongside."""
        document, state = self.to_document()
        save_checkpoint(path, state, {**document, "extra": extra or {}})

    @staticmethod
    def load(path: Path | BinaryIO, device: str = "auto") -> tuple[Forecaster, dict]:
        """Load a saved forecaster onto `device` (any checkpoint loads on a CPU-only machine)."""
        target = pick_device(device)
        state_dict, document = load_checkpoint(path, map_location=target)
        return Forecaster.from_document(document, state_dict, str(target)), document.get(
            "extra", {}
        )

    def to_document(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """Configuration, scaling and report as JSON, and the weights, for a checkpoint."""
        network, scaling = self._fitted()
        document = {
            "network": self.network_config.to_json(),
            "training": vars(self.train_config),
            "scaling": vars(scaling),
            "report": self.report.to_json() if self.report else None,
        }
        return document, network.state_dict()

    @staticmethod
    def from_document(
        document: dict, state_dict: dict[str, torch.Tensor], device: str = "auto"
    ) -> Forecaster:
        """The forecaster `to_document` described, on `device`, ready to forecast."""
        target = pick_device(device)
        forecaster = Forecaster(
            NetworkConfig.from_json(document["network"]),
            TrainConfig(**document["training"]),
            device=str(target),
        )
        forecaster.scaling = Scaling.from_dict(document["scaling"])
        forecaster.network = ForecastNetwork(forecaster.network_config).to(target)
        forecaster.network.load_state_dict({k: v.to(target) for k, v in state_dict.items()})
        forecaster.network.eval()
        if document.get("report"):
            forecaster.report = TrainReport(**document["report"])
        return forecaster

    def _fitted(self) -> tuple[ForecastNetwork, Scaling]:
        if self.network is None or self.scaling is None:
            raise RuntimeError("the forecaster is not fitted: call fit() or load() first")
        return self.network, self.scaling


def forecast_windows(
    network: ForecastNetwork,
    inputs: Callable[[np.ndarray], Batch],
    origins: np.ndarray,
    context: int,
    forecast_scale: float,
    device: torch.device,
    batch_rows: int = 512,
) -> np.ndarray:
    """Forecasts (n, H, Q) in the series' units whose first step is row `origin`, for each.

    `inputs(starts)` cuts the windows (`WindowMaker.inputs`, or a global model's, which tags
    them with their series); `forecast_scale` is the unit of the network's forecasts. Origins
    must leave `context` rows before them and H rows of known covariates after them.
    """
    last = torch.tensor([context - 1], device=device)
    out = []
    with torch.no_grad():
        for i in range(0, len(origins), batch_rows):
            batch = inputs(origins[i : i + batch_rows] - context).to(device)
            scaled = network(
                batch.target, batch.known, batch.observed, positions=last, series=batch.series
            )[:, 0]  # (B, H, Q)
            values = batch.level[:, None, None] + forecast_scale * scaled
            out.append(values.double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, network.config.horizon, 0))


def evenly(starts: np.ndarray, most: int) -> np.ndarray:
    """At most `most` of `starts`, evenly spread: neighbouring windows overlap almost entirely,
    so scoring every one of thousands costs epochs of time and tells little more."""
    if len(starts) <= most:
        return starts
    return starts[np.linspace(0, len(starts) - 1, most).round().astype(int)]
