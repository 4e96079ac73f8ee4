"""Bodies of the model-facing resources: training runs, model versions, forecasts, analyses.

Kept apart from `app.api.schemas` (series and observations) so each module stays one family of
resources. Inputs forbid unknown fields, as there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from app.api.drift_schemas import SkippedSeries
from app.api.schemas import ChannelValuesIn, ObservationIn
from app.db.models import MAX_ID, RunStatus, RunTrigger, VersionStatus
from app.services.training import TrainingOptions
from app.stamps import Stamp
from app.text import Text

_FORBID = ConfigDict(extra="forbid")


class TrainRequest(TrainingOptions):
    """What to train; every field is optional. The horizon defaults to the service's setting,
    resolved when the request is taken; the context, left out, is chosen from the series'
    sampling step (four horizons, at least a day or a week of steps, 48 to 336 steps)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"horizon": 24}, {"horizon": 96, "context": 336}]},
    )

    horizon: int | None = Field(default=None, ge=1, le=10_000)


class RetrainRequest(BaseModel):
    """Which series to retrain: all that can be (`series_ids` absent), or the ones given."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{}, {"series_ids": [1, 2], "warm_start": True}]},
    )

    series_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        default=None, max_length=10_000
    )
    # Strict: JSON's 0 and 1 are numbers, not the boolean the document states.
    warm_start: StrictBool = False


class TrainingRunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    series_id: int
    status: RunStatus
    trigger: RunTrigger
    warm_start: bool
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
    model_version_id: int | None


class TrainAccepted(BaseModel):
    """`created` is false when the series already had a queued or running run: that one."""

    run: TrainingRunPublic
    created: bool


class QueuedRunPublic(BaseModel):
    """A series' run after a retraining request: new (`created`), or the queued or running one
    it already had; follow it at `GET /v1/training-runs/{run_id}`."""

    model_config = ConfigDict(from_attributes=True)

    run_id: int
    series_id: int
    status: RunStatus
    created: bool


class RetrainAccepted(BaseModel):
    """What a retraining request queued, compact: cron asks for every series, and a full run
    for each of thousands made megabytes of answer (and of the scheduler's log)."""

    queued: int
    already_open: int
    runs: list[QueuedRunPublic]
    skipped: list[SkippedSeries]


class ModelVersionPublic(BaseModel):
    """A stored version without its artifact (fetched only by the service itself)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    series_id: int
    version: int
    status: VersionStatus
    training_mode: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    backtest_error: float | None
    selection: dict[str, Any] | None = Field(
        default=None,
        description="what cross-validation compared and chose: the candidate table with "
        "validation errors, the chosen model and its fallback, why, the input's stationarity "
        "and the training mode",
    )
    artifact_sha256: str
    created_at: datetime
    promoted_at: datetime | None
    retired_at: datetime | None
    status_reason: str | None
    training_run_id: int | None
    global_model_id: int | None = Field(
        default=None,
        description="the global model serving this version (`GET /v1/global-models/{id}`); "
        "its training mode is then `global` and it holds no artifact of its own",
    )


class ModelVersionList(BaseModel):
    items: list[ModelVersionPublic]


class PromoteRequest(BaseModel):
    model_config = _FORBID

    reason: Text = Field(default="promoted by an operator", min_length=1, max_length=500)


class KnownStep(BaseModel):
    """The known channels' values at one forecast step."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"ts": "2026-01-05T09:00:00Z", "values": {"shift": 1}}]},
    )

    ts: Stamp
    values: ChannelValuesIn


class ForecastRequest(BaseModel):
    """`context`: readings to forecast from instead of the stored ones (at least the model's
    context length, on its grid; with the channels the model reads as `covariates`);
    `quantiles`: a subset of the model's, all by default. `known`: the known channels' values
    for each step of the model's horizon; left out, a model that reads known channels takes
    them from the plan stored with the observations."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"horizon": 24},
                {"horizon": 12, "quantiles": [0.5]},
                {
                    "horizon": 2,
                    "known": [
                        {"ts": "2026-01-05T09:00:00Z", "values": {"setpoint": 1200.0}},
                        {"ts": "2026-01-05T10:00:00Z", "values": {"setpoint": 1150.0}},
                    ],
                },
            ]
        },
    )

    horizon: int | None = Field(default=None, ge=1, le=10_000)
    quantiles: list[float] | None = Field(default=None, min_length=1, max_length=20)
    context: list[ObservationIn] | None = Field(default=None, min_length=1, max_length=100_000)
    known: list[KnownStep] | None = Field(default=None, min_length=1, max_length=10_000)

    @field_validator("known")
    @classmethod
    def _distinct_steps(cls, known: list[KnownStep] | None) -> list[KnownStep] | None:
        seen: dict[datetime, int] = {}
        for row, item in enumerate(known or []):
            if item.ts in seen:
                raise ValueError(
                    f"item {row}: stamp {item.ts.isoformat()} repeats item {seen[item.ts]}"
                )
            seen[item.ts] = row
        return known

    @field_validator("context")
    @classmethod
    def _distinct_stamps(cls, context: list[ObservationIn] | None) -> list[ObservationIn] | None:
        # Two readings for one stamp is a client bug: which one the model read would be luck.
        seen: dict[datetime, int] = {}
        for row, item in enumerate(context or []):
            if item.ts in seen:
                raise ValueError(
                    f"item {row}: stamp {item.ts.isoformat()} repeats item {seen[item.ts]}"
                )
            seen[item.ts] = row
        return context


class ForecastStep(BaseModel):
    step: int
    timestamp: datetime
    quantiles: dict[str, float]


class ForecastPublic(BaseModel):
    series_id: int
    model_version_id: int
    model_version: int
    forecast_id: str = Field(description="this forecast's id, under which its steps are stored")
    request_id: str = Field(
        description="the request's `X-Request-ID` (the client's, or a fresh one): a label for "
        "the caller's logs, which the caller may reuse"
    )
    origin: datetime
    filled_context: int
    model: str = Field(
        description="the model of the version that forecast: the one cross-validation chose "
        "(e.g. gru:level), the baseline serving after a first model failed its gate, or a "
        "global model: `gru:global` for a series it trained on, `gru:global-cold-start` for "
        "one it never saw (the version then names the global model)"
    )
    unit: str | None
    covariates: list[str] = Field(
        description="the series' channels the model read (known, then observed); empty for a "
        "model of the target alone"
    )
    forecast: list[ForecastStep]


class AnalysisRequest(BaseModel):
    """The stretch of stored data to analyse (all of it by default)."""

    model_config = _FORBID

    start: Stamp | None = None
    end: Stamp | None = None


class AnalysisPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    series_id: int
    created_at: datetime
    window_start: datetime
    window_end: datetime
    verdict: str
    report: dict[str, Any]
