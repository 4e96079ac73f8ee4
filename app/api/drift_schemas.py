"""Bodies of the drift resources: stored metrics, the summary per series, and a drift run.

Kept apart from `app.api.schemas` and `app.api.model_schemas`, one family per module, as there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.db.models import MAX_ID, DriftDirection, DriftKind, DriftStatus


class DriftMetricPublic(BaseModel):
    """One stored judgement: a metric of a window of data, its thresholds and its status.

    `value` is null when it could not be computed (`details.reason` says why); `direction`
    says which side of the thresholds alerts; `details.thresholds.source` says whether the
    thresholds were calibrated on the series, set, or the documented defaults.
    """

    model_config = ConfigDict(from_attributes=True)

    id: int
    series_id: int
    model_version_id: int | None
    computed_at: datetime
    window_start: datetime
    window_end: datetime
    kind: DriftKind
    metric: str
    value: float | None
    warn_threshold: float | None
    alert_threshold: float | None
    direction: DriftDirection
    status: DriftStatus
    details: dict[str, Any]
    action: str | None
    training_run_id: int | None


class DriftMetricList(BaseModel):
    """A series' metrics by window end, oldest first; at most `limit` of them."""

    items: list[DriftMetricPublic]
    limit: int


class DriftMetricBrief(BaseModel):
    """A metric as the summary lists it."""

    model_config = ConfigDict(from_attributes=True)

    kind: DriftKind
    metric: str
    value: float | None
    warn_threshold: float | None
    alert_threshold: float | None
    direction: DriftDirection
    window_end: datetime
    computed_at: datetime
    action: str | None


class SeriesDriftPublic(BaseModel):
    """A series' current drift: the worst status among the latest row of each metric (null
    before its first drift run), and the metrics in alert and in warn."""

    series_id: int
    name: str
    status: DriftStatus | None
    latest_window_end: datetime | None
    alerting: list[DriftMetricBrief]
    warning: list[DriftMetricBrief]


class DriftSummary(BaseModel):
    """Every unarchived series, by id; `counts` tallies their worst statuses ("none": never
    judged)."""

    items: list[SeriesDriftPublic]
    counts: dict[str, int]


class DriftRunRequest(BaseModel):
    """Which series to judge: every unarchived series with an active model (`series_ids`
    absent), or the ones given."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"series_ids": [1, 2]}]}
    )

    series_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        default=None, max_length=10_000
    )


class SkippedSeries(BaseModel):
    series_id: int
    reason: str


class DriftRunAccepted(BaseModel):
    """What a drift request queued: one job per series, judged by the workers. `progress` is
    where the batch's outcome is read as the jobs finish."""

    batch_id: str
    queued: int
    already_queued: int = Field(
        description="series that already had a queued job: that job judges them"
    )
    skipped: list[SkippedSeries]
    progress: str


class DriftRunProgress(BaseModel):
    """Where a drift request's jobs stand, and what the finished ones found: metrics stored,
    the alerting metrics per series, the training runs the retraining policy queued, and the
    series skipped (nothing to judge yet) or failed, with why."""

    batch_id: str
    finished: bool
    jobs: dict[str, int] = Field(description="jobs by status: queued, running, done, ...")
    metrics: int
    alerting: dict[int, list[str]]
    queued_runs: list[int]
    skipped: list[SkippedSeries]
    failed: list[SkippedSeries]
