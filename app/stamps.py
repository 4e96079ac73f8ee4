"""The time stamps the service takes: one domain, checked at every door.

A stamp is an ISO 8601 date and time with its offset (stored in UTC), from 1970-01-01 up to but
not including 2200-01-01 UTC. The preprocessing works in pandas' nanosecond stamps, whose range
ends in 2262; one stamp of the year 2426 (or 1600) once stored made every later analysis and
training of its series fail. Numbers are refused rather than read as Unix seconds: `0.5` or
`99999999999` as a date is a client bug to report. JSON bodies, CSV uploads, query parameters
and a forecast's inline context all use `checked_stamp` (or the `Stamp` type built on it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
DOMAIN = "from 1970-01-01T00:00:00Z up to 2200-01-01T00:00:00Z"


def checked_stamp(value: Any) -> datetime:
    """`value` (an ISO 8601 string or an aware datetime) in UTC; ValueError naming the rule."""
    utc = aware_stamp(value)
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"{_shown(value)} is outside the stamps this service takes, {DOMAIN}")
    return utc


def aware_stamp(value: Any) -> datetime:
    """`value` in UTC, any year: the bounds of a repair, which must reach stamps stored before
    the domain was enforced. ValueError for anything but an ISO 8601 time with its offset."""
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{_shown(value)} is not an ISO 8601 date and time") from None
    else:
        raise ValueError(
            f"{_shown(value)} is not a timestamp: give an ISO 8601 string such as "
            "2026-01-05T08:00:00Z"
        )
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValueError(f"{_shown(value)} has no timezone: add Z or an offset such as +01:00")
    try:
        return stamp.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the year 1 in UTC
        raise ValueError(
            f"{_shown(value)} is outside the stamps this service takes, {DOMAIN}"
        ) from None


def _shown(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


# A stamp in a body or a query: validated before pydantic's own parsing, which would read a
# number as Unix seconds and accept a naive time.
# Documented as RFC 3339 (which requires the offset) with a year from 1970 to 2199, so the OpenAPI
# document states the domain; near its ends the offset decides, which `checked_stamp` judges.
Stamp = Annotated[
    datetime,
    BeforeValidator(checked_stamp),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "pattern": "^(19[7-9][0-9]|2[01][0-9]{2})-"}
    ),
]
AnyStamp = Annotated[datetime, BeforeValidator(aware_stamp)]
