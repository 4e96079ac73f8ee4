"""The gate of a global model: each member series' own, and the scope's verdict.

A series the global model trained on is judged exactly as a local candidate is
(`app.services.backtest`): on its gate stretch, which the network never saw, against repeating
the last value and against the series' active version, by `retrain_margin`. One difference:
a line model that fails as a first model can serve another of its members or repeat-last;
a version backed by a global model serves only the network, so such a series is left to a
model of its own (rejected, with the reason).

The scope's verdict is the global model's own status: active (the model that forecasts the
scope's series without a model of their own, the cold starts) when it beats repeating the last
value on at least half of the stretches of the series it trained on, rejected otherwise. A
series' own version follows its own gate whatever the scope's verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from app.db.json_values import json_safe
from app.db.models import ModelVersion
from app.services.backtest import GatedModel, GateScores, judge, score_for_gate
from model.global_view import GlobalSeriesModel


@dataclass(frozen=True)
class MemberGate:
    """What the gate decided for one series the global model trained on: promote or not,
    why, the scores, the active version it was judged against, and the version's metrics."""

    series_id: int
    promote: bool
    reason: str
    scores: GateScores
    active_id: int | None
    metrics: dict[str, Any]

    @property
    def beats_repeat_last(self) -> bool:
        return self.scores.candidate.mse < self.scores.naive.mse


def gate_member(
    *,
    series_id: int,
    view: GlobalSeriesModel,
    active: ModelVersion | None,
    active_model: GatedModel | None,
    frame: pd.DataFrame,
    origins: Sequence[pd.Timestamp],
    margin: float,
) -> MemberGate:
    """Score the series' view of the global model on its gate origins and judge it."""
    scores = score_for_gate(view, active_model, frame, origins)
    decision = judge(scores, active_version=active.version if active else None, margin=margin)
    promote, reason = decision.promote, decision.reason
    if promote and decision.serve != view.serving:
        c, n = scores.candidate, scores.naive
        promote, reason = (
            False,
            (
                f"{c.name} backtest MSE {c.mse:.4g} does not beat repeating the last value "
                f"({n.mse:.4g}); a version backed by a global model serves only its network"
            ),
        )
    metrics = json_safe(
        {
            "served": view.serving,
            "cold_start": False,
            "context": view.context,
            "observations": len(frame),
            "training_end": origins[0].isoformat(),
            "backtest_origins": scores.origins,
            "backtest_steps": scores.steps,
            "backtest_mse": scores.candidate.mse,
            "backtest_mae": scores.candidate.mae,
            "naive_backtest_mse": scores.naive.mse,
            "naive_backtest_mae": scores.naive.mae,
            "active_backtest_mse": scores.active.mse if scores.active else None,
            "active_backtest_mae": scores.active.mae if scores.active else None,
            "backtest_coverage": scores.coverage,
            "active_version": active.version if active else None,
            "active_version_id": active.id if active else None,
            "retrain_margin": margin,
            "gate": reason,
        }
    )
    return MemberGate(series_id, promote, reason, scores, active.id if active else None, metrics)


@dataclass(frozen=True)
class ScopeVerdict:
    """The global model's standing for its scope: `fit` to serve cold starts, and why."""

    fit: bool
    beats: int
    gated: int
    reason: str


def scope_verdict(gates: Sequence[MemberGate]) -> ScopeVerdict:
    """Fit when the model beats repeating the last value on at least half of the gated
    members' stretches (see the module)."""
    beats, gated = sum(gate.beats_repeat_last for gate in gates), len(gates)
    fit = 2 * beats >= gated
    judged = f"beats repeating the last value on {beats} of {gated} series' gate stretches"
    reason = (
        f"{judged}: the model of its scope's series without one of their own"
        if fit
        else f"{judged}, fewer than half: not fit to serve its scope's cold starts"
    )
    return ScopeVerdict(fit, beats, gated, reason)


def cold_start_decision(
    *, verdict: ScopeVerdict, current: ModelVersion | None, observations: int, needs: int
) -> tuple[bool, str]:
    """Whether a member with too few readings for a gate stretch is served by the global
    model, and why: when the model is fit for the scope and the series has no active version,
    or only an earlier cold start (a global model's, which this newer one replaces)."""
    few = f"cold start: {observations} observations, too few for a gate stretch ({needs})"
    if not verdict.fit:
        return False, f"{few}; the global model {verdict.reason}"
    if current is None:
        return True, f"{few}; served by the global model until a model of its own passes"
    if current.global_model_id is not None and current.metrics.get("cold_start"):
        return True, f"{few}; replaces v{current.version}, an earlier global model's cold start"
    return False, f"{few}; active v{current.version} is kept, with no stretch to compare on"
