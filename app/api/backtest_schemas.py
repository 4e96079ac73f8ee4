"""Bodies of backtests: what a version's gate compared, by forecast step and by origin.

Kept apart from `app.api.model_schemas` (runs and versions) so each module stays one family of
resources; answers only, nothing here is an input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.db.models import VersionStatus
from app.services.gate_errors import Role


class BacktestModelErrors(BaseModel):
    """One model the gate compared, its errors in the series' units on the gate's origins:
    overall, by forecast step (`step_*[k]` is step k + 1) and by origin (`origin_*[i]` is
    `origins[i]`); null where a step or origin had no reading."""

    role: Role = Field(
        description="candidate: the member this version serves; fallback: the best of its "
        "other members (its statistical baseline); active: the model in service it was "
        "judged against"
    )
    name: str
    mse: float | None
    mae: float | None
    step_mse: list[float | None]
    step_mae: list[float | None]
    origin_mse: list[float | None]
    origin_mae: list[float | None]


class ModelBacktestPublic(BaseModel):
    """What a version's gate compared, and cross-validation's candidate table. `available`
    is false (with `message`, and no models) for versions stored before the breakdown was
    kept, and for a global model's cold starts, which had no gate stretch."""

    series_id: int
    model_version_id: int
    model_version: int
    status: VersionStatus
    global_model_id: int | None
    gate: str | None = Field(description="the gate's decision, as the version's reason")
    available: bool
    message: str | None
    steps: int | None
    origins: list[datetime]
    models: list[BacktestModelErrors]
    selection: dict[str, Any] | None = Field(
        description="the candidate table cross-validation chose from (as in the version list)"
    )
