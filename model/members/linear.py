"""The linear member: one ridge regression per forecast step on the last `context` values.

On a level it reads the window relative to its last value and forecasts the change from it,
as NLinear does (Zeng et al., AAAI 2023), which matches its published ETTh1 figures; on a
differenced series it reads the increments and forecasts their running sum. Either way it
forecasts what the GRU forecasts, with no state and a closed-form fit in well under a second,
which makes it the strong, cheap statistical candidate the GRU must beat.

    change_h = b_h + Σ_j w_{h,j} x_j          x = window (relative to its last value)

The ridge penalty is a fixed share of the mean squared input (`PENALTY`): the fit is flat over
four orders of magnitude of it on ETTh1 (0.0537-0.0541 MSE at horizon 96), so it only needs
to keep a short series' fit from chasing noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from model.members.base import (
    MemberForecast,
    Representation,
    SeriesInputs,
    to_original,
    transformed,
)
from model.windows import MAX_PLACEHOLDER_SHARE
from preprocessing.pipeline import Pipeline

PENALTY = 0.1
# Training windows at most: neighbours overlap almost entirely, and the fit is O(rows · L²).
MAX_WINDOWS = 20_000


@dataclass
class LinearMember:
    """Ridge weights (L + 1, H) on a representation: the last row is the intercept."""

    representation: Representation
    pipeline: Pipeline
    context: int
    weights: np.ndarray
    kind: str = "linear"

    @property
    def name(self) -> str:
        return f"linear:{self.representation.name}"

    @property
    def horizon(self) -> int:
        return self.weights.shape[1]

    @staticmethod
    def fit(
        representation: Representation,
        pipeline: Pipeline,
        inputs: SeriesInputs,
        rows: int,
        context: int,
        horizon: int,
    ) -> LinearMember:
        """Fit on the windows whose forecast steps lie in the first `rows` rows."""
        z = transformed(pipeline, inputs)
        positions = np.arange(context - 1, rows - horizon)
        targets = _targets(z, positions, horizon, representation)
        real = np.isfinite(targets).all(axis=1) & np.isfinite(z[positions])
        share = np.isnan(inputs.window(z, positions, context)).mean(axis=1)
        positions = positions[real & (share <= MAX_PLACEHOLDER_SHARE)]
        if len(positions) < 2:
            raise ValueError("too few complete windows to fit the linear model")
        if len(positions) > MAX_WINDOWS:
            positions = positions[np.linspace(0, len(positions) - 1, MAX_WINDOWS).astype(int)]
        x = _features(z, inputs, positions, context, representation)
        y = _targets(z, positions, horizon, representation)
        gram = x.T @ x
        penalty = PENALTY * np.trace(gram[:-1, :-1]) / max(context, 1)
        ridge = np.eye(len(gram)) * penalty
        ridge[-1, -1] = 0.0  # the intercept is not shrunk
        weights = np.linalg.solve(gram + ridge, x.T @ y)
        return LinearMember(representation, pipeline, context, weights)

    def predict(self, inputs: SeriesInputs, positions: np.ndarray) -> MemberForecast:
        positions = np.asarray(positions)
        z = transformed(self.pipeline, inputs)
        x = _features(z, inputs, positions, self.context, self.representation)
        change = x @ self.weights  # (n, H)
        if self.representation.anchor == "last":
            change = change + np.nan_to_num(z[positions])[:, None]
        values = to_original(self.pipeline, inputs, positions, change[..., None])[..., 0]
        return MemberForecast(values)

    def to_document(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        document = {**self.representation.document(self.pipeline), "context": self.context}
        return document, {"weights": torch.from_numpy(self.weights)}

    @staticmethod
    def from_document(document: dict[str, Any], tensors: dict[str, torch.Tensor]) -> LinearMember:
        return LinearMember(
            *Representation.read(document),
            int(document["context"]),
            tensors["weights"].cpu().double().numpy(),
        )


def _features(
    z: np.ndarray,
    inputs: SeriesInputs,
    positions: np.ndarray,
    context: int,
    representation: Representation,
) -> np.ndarray:
    """(n, L + 1): the window (relative to its last value for a level; a placeholder reads as
    the pipeline's expectation, 0), then a constant for the intercept."""
    window = np.nan_to_num(inputs.window(z, positions, context), nan=0.0)
    if representation.anchor == "last":
        window = window - window[:, -1:]
    return np.hstack([window, np.ones((len(window), 1))])


def _targets(
    z: np.ndarray, positions: np.ndarray, horizon: int, representation: Representation
) -> np.ndarray:
    """(n, H): the change of the level from each origin over the next H steps."""
    ahead = z[np.asarray(positions)[:, None] + np.arange(1, horizon + 1)]
    if representation.anchor == "last":
        return ahead - z[positions][:, None]
    return np.cumsum(ahead, axis=1)
