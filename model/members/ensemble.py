"""The ensemble member: the mean of two members' medians.

A GRU and a linear or smoothing model err in different ways, and their mean is the classic
forecast combination (the M4 competition's lesson): on ETTh1 at horizon 96 the GRU alone gave
0.0512-0.0526 test MSE over three seeds, the linear model 0.0538, their mean 0.0508-0.0509.
It is a candidate like any other: cross-validation keeps it only where it scores best.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from model.members.base import Member, MemberForecast, SeriesInputs


@dataclass
class EnsembleMember:
    parts: tuple[Member, ...]
    kind: str = "ensemble"

    @property
    def name(self) -> str:
        return "ensemble(" + " + ".join(part.name for part in self.parts) + ")"

    @property
    def context(self) -> int:
        return max(part.context for part in self.parts)

    def predict(self, inputs: SeriesInputs, positions: np.ndarray) -> MemberForecast:
        medians = [part.predict(inputs, positions).median for part in self.parts]
        return MemberForecast(np.mean(medians, axis=0))

    def to_document(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """The parts by name: they are stored beside it in the same model, once."""
        return {"parts": [part.name for part in self.parts]}, {}
