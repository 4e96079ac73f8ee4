"""Training modes, selectable by name: how gradients cross time in the recurrent layers.

All modes share one forward computation; they differ only in the backward pass:

* `bptt`: the framework's fused GRU, exact gradients through time.
* `tbptt:K`: exact gradients inside windows of K steps, none across their borders.
* `ft-bptt`: no gradient through time at all (DSF with λ = 0).
* `dsf`: stationary diagonal state feedback with a fixed λ per unit (method.md §2-4).
* `dsf-adaptive`: DSF with λ re-estimated from the GRU's own Jacobian diagonal while training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ModeName = Literal["bptt", "tbptt", "ft-bptt", "dsf", "dsf-adaptive"]
MODE_NAMES: tuple[ModeName, ...] = ("bptt", "tbptt", "ft-bptt", "dsf", "dsf-adaptive")


@dataclass(frozen=True)
class TrainingMode:
    """A parsed mode name; `truncation` is K for `tbptt:K` and None otherwise."""

    name: ModeName
    truncation: int | None = None

    @staticmethod
    def parse(text: str) -> TrainingMode:
        """Read `bptt`, `tbptt:K`, `ft-bptt`, `dsf` or `dsf-adaptive`; else raise ValueError."""
        name, _, argument = text.strip().lower().partition(":")
        if name == "tbptt":
            if not argument.isdigit() or int(argument) < 1:
                raise ValueError(f"mode {text!r}: tbptt needs a window, e.g. 'tbptt:32'")
            return TrainingMode("tbptt", int(argument))
        if name not in MODE_NAMES or argument:
            choices = ", ".join(n if n != "tbptt" else "tbptt:K" for n in MODE_NAMES)
            raise ValueError(f"unknown training mode {text!r}; choose one of {choices}")
        return TrainingMode(name)

    @property
    def uses_feedback(self) -> bool:
        """True for the modes that run the DSF backward (ft-bptt is DSF with λ = 0)."""
        return self.name in ("ft-bptt", "dsf", "dsf-adaptive")

    def __str__(self) -> str:
        return f"tbptt:{self.truncation}" if self.name == "tbptt" else self.name
