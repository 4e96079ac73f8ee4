"""Every candidate's validation forecasts and errors on the same origins, and the preference.

The board scores a member by the mean squared error of its median over every origin's steps
that have a reading, in the series' own units: the metric the gate and the benchmarks use.
Candidates within `TIE` of the best count as equal, and then the representation the
stationarity tests recommend wins, then the simpler kind (`SIMPLICITY`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from model.members import Member, MemberForecast, SeriesInputs
from model.members.ensemble import EnsembleMember
from model.members.network import NetworkMember

TIE = 0.01
# Simplest first: the order ties are broken in after the recommended representation.
SIMPLICITY = ("repeat-last", "seasonal-naive", "ets", "linear", "gru", "ensemble")


@dataclass(frozen=True)
class CandidateScore:
    """One row of the candidate table: validation errors in the series' units, what it cost.

    `status`: "chosen", "fallback", "scored", or "screened" (a GRU that lost the race and was
    not trained to the end).
    """

    name: str
    kind: str
    representation: str | None
    mode: str | None
    mse: float
    mae: float
    train_seconds: float
    steps: int | None = None
    status: str = "scored"


class Scoreboard:
    """Every candidate's validation forecasts and scores, on the same origins."""

    def __init__(self, inputs: SeriesInputs, origins: np.ndarray, horizon: int) -> None:
        self.inputs, self.origins = inputs, origins
        self.actual = inputs.values[origins[:, None] + np.arange(1, horizon + 1)]  # (n, H)
        self.members: dict[str, Member] = {}
        self.forecasts: dict[str, MemberForecast] = {}
        self.rows: dict[str, CandidateScore] = {}

    def add(
        self, member: Member, seconds: float, status: str = "scored", name: str | None = None
    ) -> CandidateScore:
        name = name or member.name
        forecast = member.predict(self.inputs, self.origins)
        error = forecast.median - self.actual
        real = np.isfinite(error)
        network = network_of(member)
        steps = None
        if isinstance(member, NetworkMember) and member.forecaster.report is not None:
            steps = member.forecaster.report.steps
        representation = getattr(member, "representation", None)
        row = CandidateScore(
            name=name,
            kind=member.kind,
            representation=representation.name if representation else None,
            mode=network.mode if network is not None else None,
            mse=float(np.mean(error[real] ** 2)) if real.any() else math.inf,
            mae=float(np.mean(np.abs(error[real]))) if real.any() else math.inf,
            train_seconds=round(seconds, 3),
            steps=steps,
            status=status,
        )
        self.members[name], self.forecasts[name], self.rows[name] = member, forecast, row
        return row

    def ranked(self, exclude: tuple[str, ...] = ()) -> list[str]:
        """Names of the fully trained candidates, lowest validation MSE first."""
        rows = [r for r in self.rows.values() if r.status != "screened" and r.kind not in exclude]
        return [row.name for row in sorted(rows, key=lambda r: r.mse)]

    def best(self, kinds: tuple[str, ...]) -> str | None:
        rows = [r for r in self.rows.values() if r.kind in kinds and r.status != "screened"]
        return min(rows, key=lambda r: r.mse).name if rows else None

    def choose(self, recommended: str) -> tuple[str, str]:
        rows = [r for r in self.rows.values() if r.status != "screened"]
        best = min(rows, key=lambda r: r.mse)
        pick = self.rows[preferred(rows, recommended)]
        if pick.name == best.name:
            return pick.name, f"lowest validation MSE ({best.mse:.4g})"
        return pick.name, (
            f"validation MSE {pick.mse:.4g} within {TIE:.0%} of the lowest ({best.name}, "
            f"{best.mse:.4g}); preferred as "
            + (
                "the representation the stationarity tests recommend"
                if pick.representation == recommended
                else "the simpler model"
            )
        )

    def advantage(self, name: str, other: str) -> tuple[float, float]:
        """How much lower `name`'s squared error is than `other`'s, on average over the
        validation origins, and the standard error of that difference. Neighbouring origins'
        forecasts share most of their errors, so the error is taken over blocks of one horizon
        of origins, not over single origins (infinite with fewer than two blocks)."""

        def losses(member: str) -> np.ndarray:
            with np.errstate(invalid="ignore"):
                return np.nanmean((self.forecasts[member].median - self.actual) ** 2, axis=1)

        gain = losses(other) - losses(name)
        gain = gain[np.isfinite(gain)]
        size = self.actual.shape[1]
        blocks = [gain[i : i + size].mean() for i in range(0, len(gain) - size + 1, size)]
        if len(blocks) < 2:
            return float(gain.mean()) if gain.size else 0.0, math.inf
        return float(gain.mean()), float(np.std(blocks, ddof=1) / math.sqrt(len(blocks)))

    def table(self, chosen: str, fallback: str) -> tuple[CandidateScore, ...]:
        def status(row: CandidateScore) -> str:
            if row.name == chosen:
                return "chosen"
            if row.name == fallback:
                return "fallback"
            return row.status

        rows = sorted(self.rows.values(), key=lambda r: r.mse)
        return tuple(CandidateScore(**{**asdict(r), "status": status(r)}) for r in rows)


def preferred(rows: list[CandidateScore], recommended: str) -> str:
    """The name of the row to keep: the lowest MSE, or among rows within `TIE` of it the one
    on the representation the stationarity tests recommend, then the simplest kind."""
    best = min(row.mse for row in rows)
    tied = [row for row in rows if row.mse <= best * (1 + TIE)]
    return min(
        tied,
        key=lambda r: (r.representation != recommended, SIMPLICITY.index(r.kind), r.mse),
    ).name


def network_of(member: Member) -> NetworkMember | None:
    """The GRU a member forecasts with (itself, or an ensemble's part), if any."""
    if isinstance(member, NetworkMember):
        return member
    if isinstance(member, EnsembleMember):
        for part in member.parts:
            if isinstance(part, NetworkMember):
                return part
    return None
