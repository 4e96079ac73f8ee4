"""Bodies of the batch resources: a plant's scan of many tags, and forecasts of many series.

Kept apart from `app.api.model_schemas` (one series' forecast), one family per module.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.drift_schemas import SkippedSeries
from app.api.model_schemas import ForecastPublic
from app.api.schemas import ReadingValue
from app.db.models import MAX_ID
from app.stamps import Stamp
from app.text import Text

# Series one batch request may ask for: a plant's worth, and an answer of tens of megabytes
# at most (a forecast of 24 steps and 5 quantiles is about 3 kB of JSON).
MAX_BATCH_SERIES = 10_000


class BatchForecastRequest(BaseModel):
    """Which series to forecast: the ids given, or every unarchived series of a plant, a line
    or both (`plant`, `line`); not both kinds at once. `horizon` and `quantiles` apply to
    each, as for one series."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"series_ids": [1, 2, 3]},
                {"plant": "plant-a", "line": "line-3", "horizon": 12, "quantiles": [0.5]},
            ]
        },
    )

    series_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        default=None, min_length=1, max_length=MAX_BATCH_SERIES
    )
    plant: Text | None = Field(default=None, min_length=1, max_length=200)
    line: Text | None = Field(default=None, min_length=1, max_length=200)
    horizon: int | None = Field(default=None, ge=1, le=10_000)
    quantiles: list[float] | None = Field(default=None, min_length=1, max_length=20)

    @model_validator(mode="after")
    def _one_selection(self) -> BatchForecastRequest:
        by_scope = self.plant is not None or self.line is not None
        if (self.series_ids is None) == (not by_scope):
            raise ValueError("give either series_ids or a plant and/or a line, not both")
        return self


class BatchForecastPublic(BaseModel):
    """The forecasts served, in the order of the series asked for (by id when chosen by plant
    or line), each as `POST /v1/series/{id}/forecast` answers it; and the series that could
    not be forecast, with why (no active model, a horizon past their model's, ...)."""

    items: list[ForecastPublic]
    skipped: list[SkippedSeries]


class ScanIn(BaseModel):
    """The readings of many tags at one stamp: each series by its name, as a historian or a
    PLC gateway names its tags."""

    model_config = ConfigDict(extra="forbid")

    ts: Stamp
    values: dict[Annotated[Text, Field(min_length=1, max_length=200)], ReadingValue] = Field(
        min_length=1, max_length=MAX_BATCH_SERIES
    )


class ScansIn(BaseModel):
    """Scans of a plant, stored all or nothing across every series they name; at most
    LINECAST_MAX_INGEST_ROWS readings in all."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scans": [
                        {
                            "ts": "2026-01-05T08:00:00Z",
                            "values": {
                                "plant-a/line-1/throughput": 1180.5,
                                "plant-a/line-1/motor-current": 41.2,
                            },
                        }
                    ]
                }
            ]
        },
    )

    scans: list[ScanIn] = Field(min_length=1)


class ScanResult(BaseModel):
    """What a scan upload did, over every series it named: new readings, readings whose value
    changed, and exact repeats."""

    series: int
    inserted: int
    updated: int
    unchanged: int
