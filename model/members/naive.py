"""The naive members, in original units: repeat the last reading, or the last seasonal cycle.

They are the baselines every other candidate must beat, and the answer of last resort: a
series on which nothing beats repeating the last value is served that, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from model.members.base import MemberForecast, SeriesInputs


@dataclass
class RepeatLastMember:
    horizon: int
    kind: str = "repeat-last"
    name: str = "repeat-last"
    context: int = 1

    def predict(self, inputs: SeriesInputs, positions: np.ndarray) -> MemberForecast:
        last = inputs.values[np.asarray(positions)]
        return MemberForecast(np.repeat(last[:, None], self.horizon, axis=1))

    def to_document(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return {"horizon": self.horizon}, {}

    @staticmethod
    def from_document(document: dict[str, Any]) -> RepeatLastMember:
        return RepeatLastMember(int(document["horizon"]))


@dataclass
class SeasonalNaiveMember:
    """Step h repeats the reading a whole number of periods before it, inside the context;
    a missing one (a stop then) reads as the last reading."""

    horizon: int
    period: int
    kind: str = "seasonal-naive"

    @property
    def name(self) -> str:
        return f"seasonal-naive:{self.period}"

    @property
    def context(self) -> int:
        return self.period

    def predict(self, inputs: SeriesInputs, positions: np.ndarray) -> MemberForecast:
        positions = np.asarray(positions)
        steps = np.arange(1, self.horizon + 1)
        lag = self.period * ((steps - 1) // self.period + 1)
        values = inputs.values[positions[:, None] + steps - lag]  # (n, H)
        last = inputs.values[positions][:, None]
        return MemberForecast(np.where(np.isfinite(values), values, last))

    def to_document(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return {"horizon": self.horizon, "period": self.period}, {}

    @staticmethod
    def from_document(document: dict[str, Any]) -> SeasonalNaiveMember:
        return SeasonalNaiveMember(int(document["horizon"]), int(document["period"]))
