"""The GRU member: a `Forecaster` trained on one representation of the series.

The network reads the representation's values (a level relative to each window's start, or a
differenced series as it is; `model.windows`) with the known and observed covariates, and
forecasts H steps from its last context step for every origin in one batched pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from model.forecaster import Forecaster
from model.members.base import (
    MemberForecast,
    Representation,
    SeriesInputs,
    to_original,
    transformed,
)
from model.windows import SeriesArrays
from preprocessing.pipeline import Pipeline


@dataclass
class NetworkMember:
    """A trained forecaster and the pipeline variant it reads."""

    representation: Representation
    pipeline: Pipeline
    forecaster: Forecaster
    kind: str = "gru"

    @property
    def name(self) -> str:
        return f"gru:{self.representation.name}"

    @property
    def context(self) -> int:
        return self.forecaster.context

    @property
    def mode(self) -> str:
        return self.forecaster.train_config.mode

    def predict(self, inputs: SeriesInputs, positions: np.ndarray) -> MemberForecast:
        arrays = network_arrays(self.pipeline, inputs, self.forecaster.horizon)
        z = self.forecaster.forecast_at(arrays, np.asarray(positions) + 1)  # (n, H, Q)
        median = self.forecaster.network_config.quantiles.index(0.5)
        values = to_original(self.pipeline, inputs, positions, z[..., median : median + 1])
        return MemberForecast(values[..., 0])

    def to_document(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        document, state = self.forecaster.to_document()
        return {**self.representation.document(self.pipeline), "forecaster": document}, state

    @staticmethod
    def from_document(
        document: dict[str, Any], tensors: dict[str, torch.Tensor], device: str
    ) -> NetworkMember:
        return NetworkMember(
            *Representation.read(document),
            Forecaster.from_document(document["forecaster"], tensors, device),
        )


def network_arrays(pipeline: Pipeline, inputs: SeriesInputs, horizon: int) -> SeriesArrays:
    """What the network reads, with `horizon` placeholder rows after the last stamp (never
    read as target; their known covariates are the plan of the forecast steps)."""
    z = transformed(pipeline, inputs)
    rows = len(inputs) + horizon
    target = np.concatenate([np.nan_to_num(z, nan=0.0), np.zeros(horizon)])
    observed = np.vstack(
        [fill_missing(inputs.observed), np.zeros((horizon, inputs.observed.shape[1]))]
    )
    return SeriesArrays.of(target, fill_missing(inputs.known[:rows]), observed)


def valid_rows(pipeline: Pipeline, inputs: SeriesInputs) -> np.ndarray:
    """(N,) rows whose value (through the pipeline) and covariates are all real readings."""
    z = transformed(pipeline, inputs)
    finite = np.isfinite(z)
    for covariates in (inputs.known[: len(inputs)], inputs.observed):
        finite &= np.isfinite(covariates).all(axis=1)
    return finite


def fill_missing(values: np.ndarray) -> np.ndarray:
    """Placeholders for missing covariate rows (never read by a training window): the column
    median, so the covariate scaling fitted over all rows is not pulled by them."""
    if values.size == 0 or np.isfinite(values).all():
        return np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    medians = np.nan_to_num(np.nanmedian(np.where(finite, values, np.nan), axis=0))
    return np.where(finite, values, medians[None, :])
