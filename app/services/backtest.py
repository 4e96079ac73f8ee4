"""The validation gate: a candidate against the model in service and repeat-last, out of sample.

The gate's origins are the last `GATE_ORIGINS` observations a stride of a quarter horizon
apart, the last one a horizon before the end, so their forecasts cover the latest data; the
candidate is trained on the data up to the first of them (`app.services.training`). Every model
forecasts all origins in one batched pass (`FittedLineModel.forecast_many`), and all are scored
on the same origins (those every model can forecast) and steps (those every model forecasts),
by the mean squared error of the median in the series' own units, the metric cross-validation
chose by.

The model in service may have trained on the gate's stretch (it was trained when those rows
were already stored): that can only flatter the incumbent, the safe direction for a gate that
decides whether to replace it. A first model whose chosen candidate fails is served by the
best of its other candidates on the gate, or by repeat-last if nothing beats it, so a series
that was trained always has a model that serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from app.services.gate_errors import GateErrors, Role, error_profile
from model.global_view import GlobalSeriesModel
from model.line_model import FittedLineModel

# A model the gate scores: a line model, or a series' view of a global model, which offers the
# same forecasting interface (`model.global_view`).
GatedModel = FittedLineModel | GlobalSeriesModel

GATE_ORIGINS = 64


def gate_origins(frame: pd.DataFrame, horizon: int, spare_rows: int) -> list[pd.Timestamp]:
    """Up to `GATE_ORIGINS` observation stamps, max(1, H // 4) rows apart, the last one H rows
    before the end; fewer where training can spare only `spare_rows` rows at the end."""
    if horizon < 1:
        raise ValueError(f"horizon must be positive, got {horizon}")
    stride = max(1, horizon // 4)
    count = min(GATE_ORIGINS, (spare_rows - horizon - 1) // stride + 1)
    if count < 1:
        raise ValueError(
            f"{len(frame)} observations leave no room for a backtest of {horizon} steps after "
            "the rows the model needs"
        )
    positions = [len(frame) - 1 - horizon - stride * i for i in reversed(range(count))]
    return [frame.index[p] for p in positions]


def gate_span(horizon: int) -> int:
    """Observations the gate's forecasts cover when it has all its origins."""
    return (GATE_ORIGINS - 1) * max(1, horizon // 4) + horizon


@dataclass(frozen=True)
class GateScore:
    name: str
    mse: float
    mae: float


@dataclass(frozen=True)
class GateScores:
    """Errors on the same origins and steps of the candidate's serving member, repeat-last,
    the best of the candidate's other members (`fallback`) and the active model; `coverage`
    is the share of the readings inside the serving member's band; `errors`, the same errors
    by step and by origin, kept with the version (`app.services.gate_errors`)."""

    origins: int
    steps: int
    candidate: GateScore
    naive: GateScore
    fallback: GateScore | None
    active: GateScore | None
    coverage: float
    errors: GateErrors | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GateDecision:
    """`serve`: the member the stored version serves (the candidate's choice, or another of its
    members for a first model); `promote`: whether it becomes the active version."""

    promote: bool
    serve: str
    reason: str


def score_for_gate(
    candidate: GatedModel,
    active: GatedModel | None,
    frame: pd.DataFrame,
    origins: Sequence[pd.Timestamp],
) -> GateScores:
    """Score every model on the origins all of them can forecast (ValueError if none).

    Every member of the candidate is scored, batched over the origins: the chosen one, and
    the others in case a first model needs another to serve."""
    forecasts = candidate.forecast_members(frame, origins)
    if active is not None:
        forecasts["active"] = active.forecast_many(frame, origins)
    usable = np.logical_and.reduce([f.usable for f in forecasts.values()])
    if not usable.any():
        raise ValueError(
            f"none of the {len(origins)} backtest origins has enough data before it for the "
            "models to forecast"
        )
    steps = min(candidate.horizon, active.horizon) if active is not None else candidate.horizon
    actual = frame["value"]
    kept = set(forecasts[candidate.serving].origins[usable])

    def rows(name: str) -> pd.DataFrame:
        scored = forecasts[name].scored(actual)
        scored = scored.loc[scored["origin"].isin(kept) & (scored["step"] <= steps)]
        if scored.empty:
            raise ValueError("no readings after the backtest origins to compare forecasts with")
        return scored

    def score(name: str, label: str | None = None) -> GateScore:
        scored = rows(name)
        error = scored["median"].to_numpy() - scored["actual"].to_numpy()
        return GateScore(label or name, float(np.mean(error**2)), float(np.mean(np.abs(error))))

    others = [
        score(name) for name in candidate.members if name not in (candidate.serving, "repeat-last")
    ]
    served = rows(candidate.serving)
    inside = (served["actual"] >= served["lower"]) & (served["actual"] <= served["upper"])
    fallback = min(others, key=lambda s: s.mse) if others else None
    # (role, forecasts' key, name shown): the models the gate compared, for `errors`.
    compared: list[tuple[Role, str, str]] = [
        ("candidate", candidate.serving, candidate.serving),
        ("repeat-last", "repeat-last", "repeat-last"),
    ]
    if fallback is not None:
        compared.append(("fallback", fallback.name, fallback.name))
    if active is not None:
        compared.append(("active", "active", active.serving))
    ordered = tuple(sorted(kept))
    profiles = tuple(
        error_profile(role, label, rows(key), steps, ordered) for role, key, label in compared
    )
    return GateScores(
        origins=int(usable.sum()),
        steps=steps,
        candidate=score(candidate.serving),
        naive=score("repeat-last"),
        fallback=fallback,
        active=score("active", active.serving) if active is not None else None,
        coverage=float(inside.mean()),
        errors=GateErrors(steps, ordered, profiles),
    )


def judge(scores: GateScores, *, active_version: int | None, margin: float) -> GateDecision:
    """Promote a candidate that beats repeat-last and, when a model is active, beats it by at
    least `margin` (a fraction of its error), so noise does not churn versions.

    A first model that fails still leaves the series served: by the best of its other members
    on the gate if that beats repeat-last, else by repeat-last itself, and the reason says so.
    """
    c, n, a = scores.candidate, scores.naive, scores.active
    if a is None:
        if c.mse < n.mse:
            return GateDecision(
                True,
                c.name,
                f"first model: {c.name} backtest MSE {c.mse:.4g} beats repeating the last value "
                f"({n.mse:.4g})",
            )
        failed = (
            f"{c.name} backtest MSE {c.mse:.4g} does not beat repeating the last value "
            f"({n.mse:.4g})"
        )
        f = scores.fallback
        if f is not None and f.mse < n.mse:
            return GateDecision(
                True,
                f.name,
                f"first model: {failed}; serving {f.name}, the best of its other candidates "
                f"here (MSE {f.mse:.4g})",
            )
        return GateDecision(True, n.name, f"first model: {failed}; serving repeat-last")
    if not c.mse < n.mse:
        return GateDecision(
            False,
            c.name,
            f"{c.name} backtest MSE {c.mse:.4g} does not beat repeating the last value "
            f"({n.mse:.4g})",
        )
    shown = f"{margin * 100:g}%"
    if c.mse < a.mse and c.mse <= a.mse * (1 - margin):
        return GateDecision(
            True,
            c.name,
            f"{c.name} backtest MSE {c.mse:.4g} beats active v{active_version}'s {a.mse:.4g} by "
            f"the {shown} margin",
        )
    return GateDecision(
        False,
        c.name,
        f"{c.name} backtest MSE {c.mse:.4g} does not beat active v{active_version}'s "
        f"{a.mse:.4g} by the {shown} margin",
    )
