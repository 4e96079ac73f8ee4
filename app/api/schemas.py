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
from typing import Annotated, Any, Self
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
    WithJsonSchema,
    field_validator,
    model_validator,
)

from app.services.channels import MAX_CHANNELS, RESERVED_NAMES, ChannelRole
from app.services.observations import MAX_READING
from app.stamps import Stamp
from app.text import Text
from preprocessing.regularise import freq_alias

_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9 ._:/-]+")
_TS_EXAMPLE = "2026-01-05T08:00:00Z"


def _absent(value: object) -> bool:
    """Whether an optional answer field is left out (`exclude_if`)."""
    return value is None


# Channel names are column names of frames and CSV files: identifiers, no spaces or commas.
ChannelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
# Strict: true, "12" or null as a reading is a client bug to report, not to coerce. The
# magnitude bound keeps the statistics of a series from overflowing (`MAX_READING`).
ReadingValue = Annotated[
    float, Field(strict=True, allow_inf_nan=False, ge=-MAX_READING, le=MAX_READING)
]
ChannelValuesIn = Annotated[
    dict[ChannelName, ReadingValue], Field(min_length=1, max_length=MAX_CHANNELS)
]
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


class Channel(BaseModel):
    """A covariate of a series besides its target: `known` values are known ahead for the
    horizon (a setpoint or shift plan), `observed` ones are measured with the target (motor
    current) and unknown in the future. Names are identifiers; `ts`, `timestamp` and `value`
    are taken."""

    model_config = ConfigDict(
        extra="forbid",
        from_attributes=True,
        json_schema_extra={"examples": [{"name": "setpoint", "role": "known", "unit": "parts/h"}]},
    )

    name: ChannelName
    role: ChannelRole
    unit: Text | None = Field(default=None, max_length=50)

    @field_validator("name")
    @classmethod
    def _free_name(cls, name: str) -> str:
        if name.lower() in RESERVED_NAMES:
            raise ValueError(f"{name!r} names the stamp or the target; choose another name")
        return name


class SeriesCreate(BaseModel):
    """A new series. `name` is unique; `frequency` a fixed pandas step, stored canonical;
    `channels` the covariates it will carry besides its target (fixed once created)."""

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
                    "channels": [
                        {"name": "setpoint", "role": "known", "unit": "parts/h"},
                        {"name": "shift", "role": "known", "unit": None},
                        {"name": "motor_current", "role": "observed", "unit": "A"},
                    ],
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
    channels: list[Channel] = Field(default_factory=list, max_length=MAX_CHANNELS)

    @field_validator("channels")
    @classmethod
    def _distinct_channels(cls, channels: list[Channel]) -> list[Channel]:
        names = [channel.name for channel in channels]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"channel {name!r} is declared twice")
        return channels

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
                    "channels": [{"name": "setpoint", "role": "known", "unit": "parts/h"}],
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
    channels: list[Channel]
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
    (`app.stamps`: 1970 up to 2200, stored in UTC); `value` must be finite. `covariates`: the
    values of the series' channels at the stamp, by name; a stamp may carry them without a
    `value` (a known channel's plan, uploaded ahead of the readings)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"ts": _TS_EXAMPLE, "value": 1180.5},
                {"ts": _TS_EXAMPLE, "value": 1180.5, "covariates": {"setpoint": 1200.0}},
                {"ts": "2026-01-06T08:00:00Z", "covariates": {"setpoint": 1150.0}},
            ]
        },
    )

    ts: Stamp
    # Left out for a plan; null is refused like any other non-number (`_not_null`), so the
    # document states a number, not a nullable one.
    value: Annotated[
        ReadingValue | None,
        WithJsonSchema({"type": "number", "minimum": -MAX_READING, "maximum": MAX_READING}),
    ] = None
    covariates: ChannelValuesIn | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError(
                "Input should be a valid number, not null: leave value out for a stamp that "
                "only carries covariates"
            )
        return value

    @model_validator(mode="after")
    def _something_to_store(self) -> Self:
        if self.value is None and self.covariates is None:
            raise ValueError("give value, covariates or both")
        return self


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
    """What an upload did: new readings, readings whose value changed, and exact repeats;
    `covariates`: the stamps whose channel values were stored (merged by name), left out of
    the answer to an upload without any, which answers as before channels existed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"inserted": 22, "updated": 1, "unchanged": 1, "covariates": 24}]
        }
    )

    inserted: int
    updated: int
    unchanged: int
    covariates: int | None = Field(default=None, exclude_if=_absent)


class ObservationsDeleted(BaseModel):
    """What a repair removed."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"deleted": 1}]})

    deleted: int


class ObservationPublic(BaseModel):
    """A stored reading, its stamp in UTC, with its stamp's channel values (left out: none)."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [{"ts": _TS_EXAMPLE, "value": 1180.5, "covariates": {"setpoint": 1200.0}}]
        },
    )

    ts: datetime
    value: float
    # Left out where there are none, so a series without channels reads as it always did.
    covariates: dict[str, float] | None = Field(default=None, exclude_if=_absent)


class ObservationPage(BaseModel):
    """Readings in time order; pass `next_cursor` as `cursor` for the next page (null: done)."""

    items: list[ObservationPublic]
    next_cursor: str | None


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    # available_timezones() scans the zone database on every call.
    return frozenset(available_timezones())
