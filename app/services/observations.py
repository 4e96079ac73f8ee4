"""Observations: reading CSV uploads, storing batches idempotently, and paging through them.

A batch is stored all or nothing. One bad row (an unparseable stamp, a stamp without a zone,
a value that is not a finite number, a stamp given twice) refuses the whole batch with every
problem listed by row, and stores nothing: a partly stored upload leaves the client to work
out which rows to send again, and a gap it never notices. Re-sending a batch is safe: a stamp
already stored with the same value is counted `unchanged`, with another value `updated`.

A row may carry the values of the series' declared channels (`app.services.channels`) beside
its reading, or instead of it: a known channel's plan comes ahead of the readings. Channel
values are stored apart (`app.services.channel_values`) in the same transaction; a name the
series does not declare refuses the batch like any bad row.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Boolean, and_, delete, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.db.models import ChannelValues, Observation, utcnow
from app.services.channel_values import store_channel_values
from app.stamps import checked_stamp

MAX_REPORTED_PROBLEMS = 20
# Rows per INSERT: 4 parameters a row stays under PostgreSQL's 65,535 and SQLite's 32,766.
_BATCH_ROWS = 5_000
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_NOT_FINITE = frozenset({"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "-infinity"})

# The largest reading stored, either sign: no sensor reads more, and squaring a reading of
# 1e308 (a variance, an MSE) overflows to infinity, which once turned a forecast into NaN.
MAX_READING = 1e15
# A deadlock or serialisation failure (PostgreSQL's SQLSTATE) is retried this many times in all.
_WRITE_TRIES = 3
_RETRYABLE = frozenset({"40P01", "40001"})


class Reading(NamedTuple):
    """One reading to store; `row` is where it came from (item index or CSV line). `value`
    is None for a stamp that only carries channel values (a plan); `covariates` are the
    channels' values at the stamp, by name."""

    row: int
    ts: datetime
    value: float | None
    covariates: Mapping[str, float] | None = None


class StoredReading(NamedTuple):
    """A stored reading with its stamp's channel values (None where it has none)."""

    ts: datetime
    value: float
    covariates: dict[str, float] | None


@dataclass(frozen=True)
class RowProblem:
    """Why one row was refused; `row` numbers it as `Reading.row` does."""

    row: int
    reason: str


@dataclass(frozen=True)
class IngestCounts:
    """Of a stored batch: new readings, readings whose value changed, exact repeats; and the
    stamps whose channel values were stored (merged by name into what was there)."""

    inserted: int
    updated: int
    unchanged: int
    covariates: int = 0


class IngestError(ValueError):
    """A payload refused as a whole; nothing of it was stored."""


class WriteContention(RuntimeError):
    """Concurrent uploads kept colliding on the same readings; nothing of this one was stored
    (the database rolled it back), and the same upload may simply be sent again."""


class TooManyRows(IngestError):
    """More rows than LINECAST_MAX_INGEST_ROWS in one payload."""


class RejectedRows(IngestError):
    """Rows that make a payload unacceptable; keeps the first `MAX_REPORTED_PROBLEMS`."""

    def __init__(self, problems: Sequence[RowProblem], count: int | None = None) -> None:
        self.problems = list(problems[:MAX_REPORTED_PROBLEMS])
        self.count = len(problems) if count is None else count
        shown = "; ".join(f"row {problem.row}: {problem.reason}" for problem in self.problems)
        first = (
            f" (the first {len(self.problems)} follow)" if self.count > len(self.problems) else ""
        )
        rows = "row" if self.count == 1 else "rows"
        super().__init__(f"{self.count} {rows} rejected, nothing stored{first}: {shown}")


def parse_csv(data: bytes, *, max_rows: int, channels: Collection[str] = ()) -> list[Reading]:
    """Readings from a CSV with a header naming `timestamp` and `value`, `,` or `;` separated,
    and any of the series' `channels` as further columns (named exactly as declared).

    Rows are numbered as a spreadsheet shows them: the header is row 1. Blank lines are
    skipped. Numbers use `.` as the decimal separator: a `1,5` in a `;` file is refused rather
    than guessed, since `1,500` may as well mean fifteen hundred. With channel columns, an
    empty cell is no value: a row may leave `value` empty (a plan) if a channel has one.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise IngestError(
            f"the file is not UTF-8 text (bad byte at offset {error.start})"
        ) from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    # strict: a stray quote is an error to report, not a cell silently merged with the next.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    readings: list[Reading] = []
    problems: list[RowProblem] = []
    problem_count = 0
    try:
        ts_column, value_column, named = _columns(next(reader, None), channels)
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            if len(readings) + problem_count >= max_rows:
                raise TooManyRows(
                    f"the file has more than {max_rows} rows, the most one upload takes"
                )
            try:
                if len(fields) != 2 + len(named):
                    raise ValueError(f"expected {2 + len(named)} fields, got {len(fields)}")
                ts = _parse_ts(fields[ts_column])
                readings.append(_csv_reading(reader.line_num, ts, fields, value_column, named))
            except ValueError as error:
                problem_count += 1
                if len(problems) < MAX_REPORTED_PROBLEMS:
                    problems.append(RowProblem(reader.line_num, str(error)))
    except csv.Error as error:
        raise IngestError(f"row {reader.line_num}: not readable as CSV: {error}") from None
    if problem_count:
        raise RejectedRows(problems, problem_count)
    return readings


def ingest_observations(
    *,
    session: Session,
    series_id: int,
    readings: Sequence[Reading],
    max_rows: int,
    channels: Collection[str] = (),
) -> IngestCounts:
    """Insert or update `readings` of a series, and their channel values, in one transaction;
    say what changed.

    Raises `TooManyRows` past `max_rows` and `RejectedRows` for a stamp given twice (compared
    in UTC, so 01:00+01:00 and 00:00Z are the same stamp), a row with neither a value nor
    channel values, or a channel name not among `channels` (the series' declared ones),
    storing nothing in any case.
    """
    uploads = {series_id: readings}
    return ingest_many(
        session=session, uploads=uploads, max_rows=max_rows, channels={series_id: channels}
    )[series_id]


def ingest_many(
    *,
    session: Session,
    uploads: Mapping[int, Sequence[Reading]],
    max_rows: int,
    channels: Mapping[int, Collection[str]],
) -> dict[int, IngestCounts]:
    """`ingest_observations` for several series at once, all or nothing: every series' rows
    are checked before any is written, and all are written in one transaction (a plant's scan
    of many tags, `POST /v1/observations`); `max_rows` bounds them together."""
    total = sum(len(readings) for readings in uploads.values())
    if total > max_rows:
        raise TooManyRows(f"{total} rows sent, the most one upload takes is {max_rows}")
    for series_id, readings in uploads.items():
        _refuse_undeclared(readings, channels.get(series_id, ()))
        _refuse_duplicates(readings)
    # Rows are locked in (series, stamp) order, whatever order they came in: two uploads of
    # the same stamps, one ascending and one descending, then wait for each other instead of
    # deadlocking (measured: 13 of 20 such uploads failed before).
    ordered = {i: sorted(uploads[i], key=lambda reading: reading.ts) for i in sorted(uploads)}
    for _ in range(_WRITE_TRIES):
        try:
            counts = {}
            for series_id, rows in ordered.items():
                stored = _upsert(session, series_id, [r for r in rows if r.value is not None])
                planned = [(r.ts, r.covariates) for r in rows if r.covariates]
                store_channel_values(session, series_id, planned, utcnow())
                counts[series_id] = replace(stored, covariates=len(planned))
            session.commit()
            return counts
        except DBAPIError as error:
            session.rollback()
            if getattr(error.orig, "sqlstate", None) not in _RETRYABLE:
                raise
    shown = ", ".join(str(i) for i in list(ordered)[:5])
    raise WriteContention(
        f"concurrent uploads to series {shown} kept colliding ({_WRITE_TRIES} tries); "
        "nothing of this one was stored, send it again"
    )


def _upsert(session: Session, series_id: int, readings: Sequence[Reading]) -> IngestCounts:
    dialect = session.get_bind().dialect.name
    now = utcnow()
    inserted = updated = 0
    for start in range(0, len(readings), _BATCH_ROWS):
        batch = readings[start : start + _BATCH_ROWS]
        if dialect == "postgresql":
            new, changed = _upsert_postgresql(session, series_id, batch, now)
        elif dialect == "sqlite":
            new, changed = _upsert_sqlite(session, series_id, batch, now)
        else:
            raise NotImplementedError(f"storing observations on {dialect} is not supported")
        inserted += new
        updated += changed
    return IngestCounts(inserted, updated, len(readings) - inserted - updated)


def observations_page(
    *,
    session: Session,
    series_id: int,
    start: datetime | None,
    end: datetime | None,
    after: datetime | None,
    limit: int,
) -> tuple[list[StoredReading], bool]:
    """Up to `limit` readings with start <= ts < end and ts > after, by time, each with its
    stamp's channel values; and whether more. Stamps with channel values but no reading (a
    plan) are not readings and are not listed.

    Keyset paging on `ts` (the primary key's second column) costs the same on page 1,000 as
    on page 1, and a reading ingested between two pages does not shift the rest.
    """
    query = (
        select(Observation.ts, Observation.value, ChannelValues.covariates)
        .outerjoin(
            ChannelValues,
            and_(
                ChannelValues.series_id == Observation.series_id,
                ChannelValues.ts == Observation.ts,
            ),
        )
        .where(Observation.series_id == series_id)
    )
    if start is not None:
        query = query.where(Observation.ts >= start)
    if end is not None:
        query = query.where(Observation.ts < end)
    if after is not None:
        query = query.where(Observation.ts > after)
    rows = [
        StoredReading(*row)
        for row in session.execute(query.order_by(Observation.ts).limit(limit + 1))
    ]
    return rows[:limit], len(rows) > limit


def delete_observations(
    *, session: Session, series_id: int, start: datetime | None, end: datetime | None
) -> int:
    """Delete the readings with start <= ts < end (a missing bound is open), and the channel
    values of the stretch with them, in one transaction; how many readings. Either bound may
    lie outside the stamp domain: this is how a series poisoned by a stamp stored before the
    domain was enforced is repaired."""
    if start is None and end is None:
        raise ValueError("give start, end or both: deleting every reading takes archiving")
    query = delete(Observation).where(Observation.series_id == series_id)
    channel_query = delete(ChannelValues).where(ChannelValues.series_id == series_id)
    if start is not None:
        query = query.where(Observation.ts >= start)
        channel_query = channel_query.where(ChannelValues.ts >= start)
    if end is not None:
        query = query.where(Observation.ts < end)
        channel_query = channel_query.where(ChannelValues.ts < end)
    try:
        deleted = session.execute(query).rowcount
        session.execute(channel_query)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return int(deleted)


def _columns(
    header: list[str] | None, channels: Collection[str]
) -> tuple[int, int, dict[int, str]]:
    """The positions of the stamp and the value, and of each channel column by name."""
    if header is None:
        raise IngestError("the file is empty: expected a header line `timestamp,value`")
    names = [name.strip().lower() for name in header]
    if names.count("timestamp") != 1 or names.count("value") != 1:
        raise IngestError(
            f"row 1: the header must name the two columns timestamp and value, got {_shown(header)}"
        )
    named = {
        position: name.strip()
        for position, name in enumerate(header)
        if names[position] not in ("timestamp", "value")
    }
    for name in named.values():
        if name not in channels or list(named.values()).count(name) > 1:
            declared = ", ".join(channels) or "none"
            raise IngestError(
                f"row 1: column {_shown(name)} is not a channel of the series or repeats one "
                f"(its channels: {declared})"
            )
    return names.index("timestamp"), names.index("value"), named


def _csv_reading(
    row: int, ts: datetime, fields: list[str], value_column: int, named: dict[int, str]
) -> Reading:
    covariates = {
        name: _parse_value(fields[position], name)
        for position, name in named.items()
        if fields[position].strip()
    }
    if named and not fields[value_column].strip():
        if not covariates:
            raise ValueError("neither a value nor a channel value")
        return Reading(row, ts, None, covariates)
    return Reading(row, ts, _parse_value(fields[value_column]), covariates or None)


def _parse_ts(text: str) -> datetime:
    try:
        return checked_stamp(text)
    except ValueError as error:
        raise ValueError(f"timestamp {error}") from None


def _parse_value(text: str, column: str = "value") -> float:
    """A cell as a reading; the error names the column (`value`, or a channel's name)."""
    what = "value" if column == "value" else f"{column} value"
    text = text.strip()
    if _NUMBER.fullmatch(text):
        value = float(text)
        if math.isfinite(value) and abs(value) <= MAX_READING:
            return value
        if math.isfinite(value):
            raise ValueError(f"{what} {_shown(text)} is beyond ±{MAX_READING:g}")
    if text.lower() in _NOT_FINITE or _NUMBER.fullmatch(text):
        raise ValueError(f"{what} {_shown(text)} is not a finite number")
    if _DECIMAL_COMMA.fullmatch(text):
        raise ValueError(f"{what} {_shown(text)} is not a number: use . as the decimal separator")
    raise ValueError(f"{what} {_shown(text)} is not a number")


def _shown(value: object) -> str:
    # Echo enough of a bad cell to find it, never a whole hostile payload.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _refuse_undeclared(readings: Sequence[Reading], channels: Collection[str]) -> None:
    """RejectedRows for rows with nothing to store or naming a channel not in `channels`."""
    problems = []
    for reading in readings:
        undeclared = [name for name in reading.covariates or {} if name not in channels]
        if undeclared:
            declared = ", ".join(channels) or "none"
            problems.append(
                RowProblem(
                    reading.row,
                    f"{_shown(undeclared[0])} is not a channel of the series (its channels: "
                    f"{declared})",
                )
            )
        elif reading.value is None and not reading.covariates:
            problems.append(RowProblem(reading.row, "neither a value nor a channel value"))
    if problems:
        raise RejectedRows(problems)


def _refuse_duplicates(readings: Sequence[Reading]) -> None:
    first_row: dict[datetime, int] = {}
    problems = []
    for reading in readings:
        seen = first_row.setdefault(reading.ts, reading.row)
        if seen != reading.row:
            problems.append(
                RowProblem(reading.row, f"timestamp {reading.ts.isoformat()} repeats row {seen}")
            )
    if problems:
        raise RejectedRows(problems)


def _values(series_id: int, batch: Sequence[Reading], now: datetime) -> list[dict[str, object]]:
    return [
        {"series_id": series_id, "ts": reading.ts, "value": reading.value, "ingested_at": now}
        for reading in batch
    ]


def _upsert_postgresql(
    session: Session, series_id: int, batch: Sequence[Reading], now: datetime
) -> tuple[int, int]:
    insert = postgresql.insert(Observation).values(_values(series_id, batch, now))
    # The WHERE skips rows whose value is the same, so they are not returned; of the rows
    # returned, xmax = 0 marks a fresh insert (an updated row carries its updater's xid).
    statement = insert.on_conflict_do_update(
        index_elements=[Observation.series_id, Observation.ts],
        set_={"value": insert.excluded.value, "ingested_at": now},
        where=Observation.value.is_distinct_from(insert.excluded.value),
    ).returning(literal_column("xmax = 0", Boolean))
    fresh = list(session.scalars(statement))
    new = sum(fresh)
    return new, len(fresh) - new


def _upsert_sqlite(
    session: Session, series_id: int, batch: Sequence[Reading], now: datetime
) -> tuple[int, int]:
    # SQLite has no xmax, so the counts come from reading the stored values first. Its single
    # writer makes that exact for the usual one-process deployment; the upsert itself stays
    # correct even if another process writes in between.
    query = select(Observation.ts, Observation.value).where(
        Observation.series_id == series_id,
        Observation.ts.in_([reading.ts for reading in batch]),
    )
    stored = {ts: value for ts, value in session.execute(query)}
    new = sum(reading.ts not in stored for reading in batch)
    changed = sum(reading.ts in stored and stored[reading.ts] != reading.value for reading in batch)
    insert = sqlite.insert(Observation).values(_values(series_id, batch, now))
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[Observation.series_id, Observation.ts],
            set_={"value": insert.excluded.value, "ingested_at": now},
            where=Observation.value.is_distinct_from(insert.excluded.value),
        )
    )
    return new, changed
