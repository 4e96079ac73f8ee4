"""Bodies of the global-model resources: asking for a global training, its run, the models.

Kept apart from `app.api.model_schemas` (one series' runs and versions) so each module stays
one family of resources. Inputs forbid unknown fields, as there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.db.models import RunStatus, RunTrigger, VersionStatus
from app.services.global_models import GlobalOptions


class GlobalTrainRequest(GlobalOptions):
    """What to train for a scope. `name` and a `plant`, a `line` or both are required; every
    other field is optional. The horizon defaults to the service's setting; the context, left
    out, is chosen from the series' sampling step (the shortest any series of the scope
    chooses)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "plant-a", "plant": "plant-a", "horizon": 24},
                {"name": "plant-a/line-3", "plant": "plant-a", "line": "line-3", "embedding": 0},
            ]
        },
    )

    horizon: int | None = Field(default=None, ge=1, le=10_000)


class GlobalRunPublic(BaseModel):
    """A global training run: progress, message and, once finished, the model it stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    status: RunStatus
    trigger: RunTrigger
    requested_by: str | None
    progress: float
    message: str | None
    config: dict[str, Any]
    metrics: dict[str, Any]
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    global_model_id: int | None


class GlobalTrainAccepted(BaseModel):
    """`created` is false when the name already had a queued or running run: that one. Follow
    it at `GET /v1/global-runs/{run_id}`."""

    run: GlobalRunPublic
    created: bool


class GlobalModelPublic(BaseModel):
    """A stored global model without its artifact. `status` is its standing for its scope:
    `active` serves the scope's series that have no model of their own (cold starts)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    version: int
    status: VersionStatus
    selector: dict[str, Any] = Field(
        description='the scope: {"plant": ..., "line": ...}, null matching any'
    )
    config: dict[str, Any]
    metrics: dict[str, Any] = Field(
        description="training (seconds, validation loss, epochs) and what the member series' "
        "gates decided (promoted, rejected, cold starts served, beats repeat-last)"
    )
    artifact_sha256: str
    created_at: datetime
    promoted_at: datetime | None
    retired_at: datetime | None
    status_reason: str | None


class GlobalModelList(BaseModel):
    items: list[GlobalModelPublic]


class GlobalMemberPublic(BaseModel):
    """A series' version backed by the global model, as its own gate decided; `cold_start`:
    the model never trained on the series (too few readings, or it joined the scope later)."""

    series_id: int
    model_version_id: int
    version: int
    status: VersionStatus
    status_reason: str | None
    backtest_error: float | None
    cold_start: bool


class GlobalModelDetail(GlobalModelPublic):
    members: list[GlobalMemberPublic]
