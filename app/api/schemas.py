"""The API's request and response bodies, in families per resource.

Inputs (`SeriesCreate`, `ObservationIn`, ...) forbid unknown fields, so a misspelt field
("frequncy") is a 422 naming it instead of a default silently stored. Their validators give
messages a client can act on; the request-validation handler in `app.api.main` prefixes each
with the field's location.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import available_timezones

import pandas as pd
from pandas.tseries.frequencies import to_offset
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)

from app.services.observations import MAX_READING
from app.stamps import Stamp
from app.text import Text
from preprocessing.regularise import freq_alias

_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9 ._:/-]+")
_TS_EXAMPLE = "2026-01-05T08:00:00Z"

AttributeKey = Annotated[Text, StringConstraints(min_length=1, max_length=100)]
# Flat values only: attributes are labels to filter and display, not a document store, and
# an unbounded nesting depth would be a way to make every later read of the row expensive.
AttributeValue = (
    StrictBool | StrictInt | FiniteFloat | Annotated[Text, Field(max_length=500)] | None
)


class ErrorBody(BaseModel):
    """Every error answer: what is wrong, and the request id to find the server's log lines."""

    detail: str
    request_id: str


class RejectedRow(BaseModel):
    """One unacceptable row of an upload: its row number and why it was refused."""

    row: int
    reason: str


class RejectedRowsBody(ErrorBody):
    """An upload's 422: nothing of it was stored. `rejected` lists the bad rows when rows were
    the problem; a request that is wrong as a whole (too many rows, a body that is not a
    batch) gets the plain error body."""

    rejected: list[RejectedRow] | None = Field(default=None, min_length=1)


class SeriesCreate(BaseModel):
    """A new series. `name` is unique; `frequency` a fixed pandas step, stored canonical."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "plant-a/line-3/throughput",
                    "unit": "parts/h",
                    "frequency": "h",
                    "plant": "plant-a",
                    "line": "line-3",
                    "description": "Good parts leaving the packer",
                    "timezone": "Europe/Berlin",
                    "attributes": {"shift_model": "3x8", "capacity": 1200},
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    unit: Text | None = Field(default=None, max_length=50)
    frequency: str | None = Field(default=None, max_length=16)
    plant: Text | None = Field(default=None, max_length=200)
    line: Text | None = Field(default=None, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)
    timezone: str = Field(default="UTC", max_length=64)
    attributes: dict[AttributeKey, AttributeValue] = Field(default_factory=dict, max_length=50)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        # Names end up in logs, file names of exports and dashboards: no quotes, no control
        # characters, no path tricks.
        if not _NAME_CHARACTERS.fullmatch(name):
            raise ValueError("may only contain letters, digits, spaces and . _ : / -")
        if name != name.strip():
            raise ValueError("must not start or end with a space")
        if name.startswith("/") or any(part in (".", "..") for part in name.split("/")):
            raise ValueError("must not start with / or contain . or .. as a path segment")
        return name

    @field_validator("frequency")
    @classmethod
    def _fixed_frequency(cls, frequency: str | None) -> str | None:
        if frequency is None:
            return None
        try:
            step = pd.Timedelta(to_offset(frequency))
        except ValueError:
            raise ValueError(
                f"{frequency!r} is not a fixed pandas step such as 'h', '15min' or '1D' "
                "(calendar steps like months vary in length)"
            ) from None
        return freq_alias(step)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, timezone: str) -> str:
        if timezone not in _timezones():
            raise ValueError(f"{timezone!r} is not an IANA time zone name such as 'Europe/Berlin'")
        return timezone


class SeriesPublic(BaseModel):
    """A stored series; `archived_at` is set once it is archived (read-only from then on)."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "name": "plant-a/line-3/throughput",
                    "unit": "parts/h",
                    "frequency": "h",
                    "plant": "plant-a",
                    "line": "line-3",
                    "description": "Good parts leaving the packer",
                    "timezone": "Europe/Berlin",
                    "attributes": {"shift_model": "3x8"},
                    "created_at": "2026-01-05T08:00:00Z",
                    "archived_at": None,
                }
            ]
        },
    )

    id: int
    name: str
    unit: str | None
    frequency: str | None
    plant: str | None
    line: str | None
    description: str | None
    timezone: str
    attributes: dict[str, Any]
    created_at: datetime
    archived_at: datetime | None


class SeriesList(BaseModel):
    """One page of series, oldest first; `total` counts all that match, not just this page."""

    items: list[SeriesPublic]
    total: int
    limit: int
    offset: int


class ObservationIn(BaseModel):
    """One reading. `ts` must carry its offset and lie in the service's stamp domain
    (`app.stamps`: 1970 up to 2200, stored in UTC); `value` must be finite."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ts": _TS_EXAMPLE, "value": 1180.5}]}
    )

    ts: Stamp
    # Strict: true, "12" or null as a reading is a client bug to report, not to coerce. The
    # magnitude bound keeps the statistics of a series from overflowing (`MAX_READING`).
    value: float = Field(strict=True, allow_inf_nan=False, ge=-MAX_READING, le=MAX_READING)


class ObservationsIn(BaseModel):
    """A batch of readings, stored all or nothing; at most LINECAST_MAX_INGEST_ROWS of them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"ts": "2026-01-05T08:00:00Z", "value": 1180.5},
                        {"ts": "2026-01-05T09:00:00+00:00", "value": 1175.0},
                    ]
                }
            ]
        },
    )

    items: list[ObservationIn]


class IngestResult(BaseModel):
    """What an upload did: new stamps, stamps whose value changed, and exact repeats."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"inserted": 22, "updated": 1, "unchanged": 1}]}
    )

    inserted: int
    updated: int
    unchanged: int


class ObservationsDeleted(BaseModel):
    """What a repair removed."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"deleted": 1}]})

    deleted: int


class ObservationPublic(BaseModel):
    """A stored reading, its stamp in UTC."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{"ts": _TS_EXAMPLE, "value": 1180.5}]},
    )

    ts: datetime
    value: float


class ObservationPage(BaseModel):
    """Readings in time order; pass `next_cursor` as `cursor` for the next page (null: done)."""

    items: list[ObservationPublic]
    next_cursor: str | None


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    # available_timezones() scans the zone database on every call.
    return frozenset(available_timezones())
