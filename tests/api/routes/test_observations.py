"""`/v1/series/{id}/observations`: JSON and CSV uploads, idempotent, all or nothing; paging."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import Observation, Series
from app.services.observations import IngestCounts, Reading, ingest_observations
from tests.api.conftest import MAX_INGEST_ROWS, MAX_REQUEST_BYTES, Snapshot

START = datetime(2026, 1, 5, tzinfo=UTC)


def hours(count: int, *, first: int = 0, value: Callable[[int], float] = float) -> list[dict]:
    return [
        {"ts": (START + timedelta(hours=hour)).isoformat(), "value": value(hour)}
        for hour in range(first, first + count)
    ]


def upload_json(client: httpx.Client, series_id: int, items: list[dict]) -> httpx.Response:
    return client.post(f"/v1/series/{series_id}/observations", json={"items": items})


def upload_csv(client: httpx.Client, series_id: int, text: str | bytes) -> httpx.Response:
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        f"/v1/series/{series_id}/observations/csv", files={"file": ("data.csv", data, "text/csv")}
    )


def stored(reader: httpx.Client, series_id: int, **params: Any) -> list[dict]:
    response = reader.get(f"/v1/series/{series_id}/observations", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_json_upload_stores_utc_and_reads_back_in_order(
    writer: httpx.Client, reader: httpx.Client, series_id: int
) -> None:
    items = [
        {"ts": "2026-01-05T03:00:00+01:00", "value": 2.5},  # 02:00 UTC
        {"ts": "2026-01-05T00:00:00Z", "value": 0.0},
        {"ts": "2026-01-05T01:00:00+00:00", "value": -1e-3},
    ]
    response = upload_json(writer, series_id, items)
    assert response.status_code == 200, response.text
    assert response.json() == {"inserted": 3, "updated": 0, "unchanged": 0}
    assert stored(reader, series_id) == [
        {"ts": "2026-01-05T00:00:00Z", "value": 0.0},
        {"ts": "2026-01-05T01:00:00Z", "value": -1e-3},
        {"ts": "2026-01-05T02:00:00Z", "value": 2.5},
    ]


def test_reingesting_is_idempotent_and_changes_are_updates(
    writer: httpx.Client, reader: httpx.Client, series_id: int
) -> None:
    first = hours(10)
    assert upload_json(writer, series_id, first).json() == {
        "inserted": 10,
        "updated": 0,
        "unchanged": 0,
    }
    assert upload_json(writer, series_id, first).json() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 10,
    }
    changed = hours(4, first=8, value=lambda hour: hour + 0.5)  # hours 8, 9 changed; 10, 11 new
    assert upload_json(writer, series_id, changed).json() == {
        "inserted": 2,
        "updated": 2,
        "unchanged": 0,
    }
    values = [item["value"] for item in stored(reader, series_id)]
    assert values == [*range(8), 8.5, 9.5, 10.5, 11.5]


def test_an_empty_batch_stores_nothing_and_says_so(writer: httpx.Client, series_id: int) -> None:
    assert upload_json(writer, series_id, []).json() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
    }


@pytest.mark.parametrize(
    "text",
    [
        "timestamp,value\n2026-01-05T00:00:00Z,1\n2026-01-05T01:00:00Z,2.5\n",
        "timestamp;value\r\n2026-01-05T00:00:00Z;1\r\n2026-01-05T01:00:00Z;2.5\r\n",
        "\ufeffTimestamp , Value\n2026-01-05T00:00:00Z,1\n\n2026-01-05 02:00:00+01:00,2.5e0\n",
        "value,timestamp\n1,2026-01-05T00:00:00Z\n+2.5,2026-01-05T01:00:00Z",
    ],
    ids=["comma", "semicolon-crlf", "bom-spaces-blank-line", "columns-swapped"],
)
def test_csv_upload(text: str, writer: httpx.Client, reader: httpx.Client, series_id: int) -> None:
    response = upload_csv(writer, series_id, text)
    assert response.status_code == 200, response.text
    assert response.json() == {"inserted": 2, "updated": 0, "unchanged": 0}
    assert stored(reader, series_id) == [
        {"ts": "2026-01-05T00:00:00Z", "value": 1.0},
        {"ts": "2026-01-05T01:00:00Z", "value": 2.5},
    ]
    assert upload_csv(writer, series_id, text).json() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 2,
    }


@pytest.fixture
def filled(writer: httpx.Client, series_id: int, snapshot: Callable[[], Snapshot]) -> Snapshot:
    """The series holds 5 readings; returns the database as it is then."""
    assert upload_json(writer, series_id, hours(5)).status_code == 200
    return snapshot()


GOOD = {"ts": "2026-01-05T10:00:00Z", "value": 1.0}


@pytest.mark.parametrize(
    ("items", "field", "message"),
    [
        ([GOOD, {"ts": "2026-01-05T11:00:00Z", "value": "NaN"}], "items.1.value", "valid number"),
        ([{"ts": "2026-01-05T11:00:00Z", "value": "inf"}], "items.0.value", "valid number"),
        ([{"ts": "yesterday", "value": 1.0}], "items.0.ts", "is not an ISO 8601 date and time"),
        ([{"ts": "2026-13-01T00:00:00Z", "value": 1.0}], "items.0.ts", "is not an ISO 8601"),
        ([GOOD, {"ts": "2026-01-05T11:00:00", "value": 1.0}], "items.1.ts", "has no timezone"),
        ([{"ts": "2026-01-05", "value": 1.0}], "items.0.ts", "has no timezone"),
        ([{"ts": "2026-01-05T11:00:00Z", "value": True}], "items.0.value", "valid number"),
        ([{"ts": "2026-01-05T11:00:00Z", "value": "12"}], "items.0.value", "valid number"),
        ([{"ts": "2026-01-05T11:00:00Z", "value": None}], "items.0.value", "valid number"),
        ([{"ts": "2026-01-05T11:00:00Z"}], "items.0", "give value, covariates or both"),
        ([{"ts": 1.5e300, "value": 1.0}], "items.0.ts", "is not a timestamp"),
        # Stamps outside 1970..2200 once poisoned a series for good (issue 10).
        ([{"ts": "2426-01-01T00:00:00Z", "value": 1.0}], "items.0.ts", "outside the stamps"),
        ([{"ts": "1600-01-01T00:00:00Z", "value": 1.0}], "items.0.ts", "outside the stamps"),
        ([{"ts": 99999999999, "value": 1.0}], "items.0.ts", "is not a timestamp"),
        ([{"ts": "0001-01-01T00:00:00+01:00", "value": 1.0}], "items.0.ts", "outside the stamps"),
        ([{**GOOD, "unit": "kg"}], "items.0.unit", "Extra inputs are not permitted"),
        ("not a list", "items", "valid list"),
    ],
)
def test_bad_json_rows_are_422_naming_the_field_and_store_nothing(
    items: Any,
    field: str,
    message: str,
    writer: httpx.Client,
    series_id: int,
    filled: Snapshot,
    snapshot: Callable[[], Snapshot],
) -> None:
    response = upload_json(writer, series_id, items)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith(f"body.{field}: ")
    assert message in detail
    assert snapshot() == filled


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"items": [{"ts": "2026-01-05T11:00:00Z", "value": NaN}]}', "finite number"),
        (b'{"items": [{"ts": "2026-01-05T11:00:00Z", "value": Infinity}]}', "finite number"),
        (b'{"items": [{"ts": "2026-01-05T11:00:00Z", "value": -Infinity}]}', "finite number"),
        (b'{"items": [{"ts": "2026-01-05T11:00:00Z", "value": 1e999}]}', "finite number"),
    ],
    ids=["NaN", "Infinity", "-Infinity", "overflow"],
)
def test_non_finite_literals_are_422_and_store_nothing(
    raw: bytes,
    message: str,
    writer: httpx.Client,
    series_id: int,
    filled: Snapshot,
    snapshot: Callable[[], Snapshot],
) -> None:
    # JSON has no NaN literal, but Python's parser (and many clients) accept one.
    response = writer.post(
        f"/v1/series/{series_id}/observations",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == f"body.items.0.value: Input should be a {message}"
    assert snapshot() == filled


def test_duplicate_stamps_in_one_batch_are_422_naming_them(
    writer: httpx.Client, series_id: int, filled: Snapshot, snapshot: Callable[[], Snapshot]
) -> None:
    items = [
        {"ts": "2026-01-05T10:00:00Z", "value": 1.0},
        {"ts": "2026-01-05T11:00:00Z", "value": 2.0},
        {"ts": "2026-01-05T11:00:00+01:00", "value": 3.0},  # the same instant as item 0
    ]
    response = upload_json(writer, series_id, items)
    assert response.status_code == 422
    body = response.json()
    assert body["rejected"] == [
        {"row": 2, "reason": "timestamp 2026-01-05T10:00:00+00:00 repeats row 0"}
    ]
    assert body["detail"] == (
        "1 row rejected, nothing stored: row 2: timestamp 2026-01-05T10:00:00+00:00 repeats row 0"
    )
    assert snapshot() == filled


@pytest.mark.parametrize(
    ("text", "rejected"),
    [
        (
            "timestamp,value\n2026-01-05T10:00:00Z,1\n2026-01-05T11:00:00Z,abc\n",
            [(3, "value 'abc' is not a number")],
        ),
        (
            "timestamp,value\n2026-01-05T10:00:00Z,NaN\n2026-01-05T11:00:00Z,-inf\n",
            [(2, "value 'NaN' is not a finite number"), (3, "value '-inf' is not a finite number")],
        ),
        ("timestamp,value\n2026-01-05T10:00:00Z,1e999\n", [(2, "value '1e999' is not a finite")]),
        ("timestamp,value\n2026-01-05T10:00:00Z,1e300\n", [(2, "value '1e300' is beyond ±1e+15")]),
        ("timestamp,value\n2026-01-05T10:00:00Z,\n", [(2, "value '' is not a number")]),
        ("timestamp,value\n2026-01-05T10:00:00Z,1_000\n", [(2, "value '1_000' is not a number")]),
        (
            "timestamp;value\n2026-01-05T10:00:00Z;1,5\n",
            [(2, "value '1,5' is not a number: use . as the decimal separator")],
        ),
        (
            "timestamp,value\nlast tuesday,1\n",
            [(2, "timestamp 'last tuesday' is not an ISO 8601 date and time")],
        ),
        (
            "timestamp,value\n2026-01-05T10:00:00,1\n",
            [(2, "timestamp '2026-01-05T10:00:00' has no timezone: add Z or an offset")],
        ),
        (
            "timestamp,value\n2426-01-01T00:00:00Z,1\n0001-01-01T00:00:00+01:00,2\n",
            [
                (2, "timestamp '2426-01-01T00:00:00Z' is outside the stamps this service takes"),
                (3, "timestamp '0001-01-01T00:00:00+01:00' is outside the stamps"),
            ],
        ),
        (
            "timestamp,value\n2026-01-05T10:00:00Z,1,extra\n2026-01-05T11:00:00Z\n",
            [(2, "expected 2 fields, got 3"), (3, "expected 2 fields, got 1")],
        ),
        (
            "timestamp,value\n2026-01-05T10:00:00Z,1\n2026-01-05T11:00:00+01:00,2\n",
            [(3, "timestamp 2026-01-05T10:00:00+00:00 repeats row 2")],
        ),
    ],
    ids=[
        "word",
        "nan-inf",
        "overflow",
        "too-large",
        "empty",
        "underscore",
        "decimal-comma",
        "bad-stamp",
        "naive",
        "out-of-domain",
        "fields",
        "duplicate",
    ],
)
def test_bad_csv_rows_are_422_by_row_number_and_store_nothing(
    text: str,
    rejected: list[tuple[int, str]],
    writer: httpx.Client,
    series_id: int,
    filled: Snapshot,
    snapshot: Callable[[], Snapshot],
) -> None:
    response = upload_csv(writer, series_id, text)
    assert response.status_code == 422
    body = response.json()
    assert [row["row"] for row in body["rejected"]] == [row for row, _ in rejected]
    for got, (row, reason) in zip(body["rejected"], rejected, strict=True):
        assert got["reason"].startswith(reason)
        assert f"row {row}: {got['reason']}" in body["detail"]
    assert "nothing stored" in body["detail"]
    assert snapshot() == filled


def test_many_bad_rows_are_counted_and_the_first_20_listed(
    writer: httpx.Client, series_id: int, filled: Snapshot, snapshot: Callable[[], Snapshot]
) -> None:
    text = "timestamp,value\n" + "".join(f"2026-02-01T{h:02d}:00:00Z,x\n" for h in range(24))
    body = upload_csv(writer, series_id, text).json()
    assert body["detail"].startswith("24 rows rejected, nothing stored (the first 20 follow): ")
    assert [row["row"] for row in body["rejected"]] == list(range(2, 22))
    assert snapshot() == filled


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"ts,value\n2026-01-05T10:00:00Z,1\n", "row 1: the header must name the two columns"),
        (b"2026-01-05T10:00:00Z,1\n", "row 1: the header must name the two columns"),
        (b"timestamp,value,unit\n", "row 1: column 'unit' is not a channel of the series"),
        (b"timestamp,value\n2026-01-05T10:00:00Z,\xff\n", "not UTF-8 text"),
        (b'timestamp,value\n"2026-01-05T10:00:00Z"x,1\n', "row 2: not readable as CSV"),
        (b'timestamp,value\n"2026-01-05T10:00:00Z,1\n', "row 2: not readable as CSV"),
    ],
    ids=["empty", "header-name", "no-header", "extra-column", "latin-1", "stray-quote", "open"],
)
def test_unreadable_csv_files_are_422_and_store_nothing(
    data: bytes,
    message: str,
    writer: httpx.Client,
    series_id: int,
    filled: Snapshot,
    snapshot: Callable[[], Snapshot],
) -> None:
    response = upload_csv(writer, series_id, data)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert snapshot() == filled


def test_csv_upload_without_a_file_is_422(writer: httpx.Client, series_id: int) -> None:
    response = writer.post(f"/v1/series/{series_id}/observations/csv", data={"other": "x"})
    assert response.status_code == 422
    assert response.json()["detail"] == "body.file: Field required"


def test_too_many_rows_are_422_and_store_nothing(
    writer: httpx.Client, series_id: int, filled: Snapshot, snapshot: Callable[[], Snapshot]
) -> None:
    items = hours(MAX_INGEST_ROWS + 1, first=100)
    response = upload_json(writer, series_id, items)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"{MAX_INGEST_ROWS + 1} rows sent, the most one upload takes is {MAX_INGEST_ROWS}"
    )
    text = "timestamp,value\n" + "".join(f"{item['ts']},1\n" for item in items)
    response = upload_csv(writer, series_id, text)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"the file has more than {MAX_INGEST_ROWS} rows, the most one upload takes"
    )
    assert snapshot() == filled
    assert upload_json(writer, series_id, items[:MAX_INGEST_ROWS]).status_code == 200


def _json_chunks() -> Iterator[bytes]:
    """A valid JSON batch somewhat over the size limit, in pieces."""
    row = b'{"ts": "2026-01-05T10:00:00Z", "value": 1.0},'
    yield b'{"items": ['
    for _ in range(MAX_REQUEST_BYTES // len(row) + 10):
        yield row
    yield b'{"ts": "2026-01-05T11:00:00Z", "value": 1.0}]}'


def _multipart_chunks() -> Iterator[bytes]:
    """A valid CSV upload somewhat over the size limit, in pieces.

    Well-formed, so the multipart parser cannot refuse it for its content before the limit.
    """
    row = b"2026-01-05T10:00:00Z,1\n"
    yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="d.csv"\r\n\r\n'
    yield b"timestamp,value\n"
    for _ in range(MAX_REQUEST_BYTES // len(row) + 10):
        yield row
    yield b"\r\n--b--\r\n"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("path", "kind", "chunks"),
    [
        ("observations", "application/json", _json_chunks),
        ("observations/csv", "multipart/form-data; boundary=b", _multipart_chunks),
    ],
    ids=["json", "csv"],
)
def test_oversized_bodies_are_413_naming_the_limit(
    declared: bool,
    path: str,
    kind: str,
    chunks: Callable[[], Iterator[bytes]],
    writer: httpx.Client,
    series_id: int,
    filled: Snapshot,
    snapshot: Callable[[], Snapshot],
) -> None:
    # A generator body is sent chunked, with no Content-Length to refuse it by up front.
    content = b"".join(chunks()) if declared else chunks()
    response = writer.post(
        f"/v1/series/{series_id}/{path}", content=content, headers={"Content-Type": kind}
    )
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == (
        f"request body larger than the limit of {MAX_REQUEST_BYTES} bytes "
        "(LINECAST_MAX_REQUEST_BYTES)"
    )
    assert snapshot() == filled


def test_unknown_series_is_404_and_archived_409(
    writer: httpx.Client,
    admin: httpx.Client,
    reader: httpx.Client,
    series_id: int,
    filled: Snapshot,
    snapshot: Callable[[], Snapshot],
) -> None:
    assert upload_json(writer, 999, hours(1)).json()["detail"] == "series 999 not found"
    assert upload_csv(writer, 999, "timestamp,value\n").status_code == 404
    assert reader.get("/v1/series/999/observations").status_code == 404

    assert admin.post(f"/v1/series/{series_id}/archive").status_code == 200
    archived = snapshot()
    response = upload_json(writer, series_id, hours(1, first=50))
    assert response.status_code == 409
    assert response.json()["detail"] == f"series {series_id} is archived"
    assert upload_csv(writer, series_id, "timestamp,value\n").status_code == 409
    assert snapshot() == archived
    assert len(stored(reader, series_id)) == 5  # still readable


def test_pages_follow_the_cursor_to_the_end(
    writer: httpx.Client, reader: httpx.Client, series_id: int
) -> None:
    assert upload_json(writer, series_id, hours(25)).status_code == 200
    seen: list[dict] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = reader.get(f"/v1/series/{series_id}/observations", params=params).json()
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [item["value"] for item in seen] == [float(hour) for hour in range(25)]


def test_a_full_last_page_still_says_it_is_the_last(
    writer: httpx.Client, reader: httpx.Client, series_id: int
) -> None:
    assert upload_json(writer, series_id, hours(10)).status_code == 200
    page = reader.get(f"/v1/series/{series_id}/observations", params={"limit": 10}).json()
    assert len(page["items"]) == 10
    assert page["next_cursor"] is None


def test_start_is_inclusive_and_end_exclusive(
    writer: httpx.Client, reader: httpx.Client, series_id: int
) -> None:
    assert upload_json(writer, series_id, hours(10)).status_code == 200
    window = {
        "start": (START + timedelta(hours=3)).isoformat(),
        "end": "2026-01-05T07:00:00+01:00",  # 06:00 UTC
    }
    assert [item["value"] for item in stored(reader, series_id, **window)] == [3.0, 4.0, 5.0]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-01-05T00:00:00"}, "query.start: '2026-01-05T00:00:00' has no timezone"),
        # A number is not a date, and a stamp outside the domain is named (issue 10).
        ({"start": "0.5"}, "query.start: '0.5' is not an ISO 8601 date and time"),
        ({"end": "2426-01-01T00:00:00Z"}, "query.end: '2426-01-01T00:00:00Z' is outside"),
        ({"end": "soon"}, "query.end: "),
        (
            {"start": "2026-01-05T05:00:00Z", "end": "2026-01-05T05:00:00Z"},
            "start must be before end",
        ),
        ({"limit": 0}, "query.limit: "),
        ({"limit": 10_001}, "query.limit: "),
        ({"cursor": "not-a-cursor"}, "cursor is not valid"),
        ({"cursor": "MjAyNi0wMS0wNVQwMDowMDowMA=="}, "cursor is not valid"),  # a naive stamp
    ],
)
def test_bad_read_parameters_are_422(
    params: dict[str, Any], message: str, reader: httpx.Client, series_id: int
) -> None:
    response = reader.get(f"/v1/series/{series_id}/observations", params=params)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(message)


def test_sqlite_counts_the_same_without_xmax(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'linecast.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            series = Series(name="s")
            session.add(series)
            session.commit()

            def ingest(values: dict[int, float]) -> IngestCounts:
                readings = [
                    Reading(row, START + timedelta(hours=hour), value)
                    for row, (hour, value) in enumerate(values.items())
                ]
                return ingest_observations(
                    session=session, series_id=series.id, readings=readings, max_rows=100
                )

            assert ingest({0: 1.0, 1: 2.0, 2: 3.0}) == IngestCounts(3, 0, 0)
            assert ingest({0: 1.0, 1: 2.0, 2: 3.0}) == IngestCounts(0, 0, 3)
            assert ingest({1: 2.0, 2: 30.0, 3: 4.0}) == IngestCounts(1, 1, 1)
    finally:
        engine.dispose()


def test_a_poisoned_series_is_repaired_by_deleting_the_stamp(
    writer: httpx.Client,
    admin: httpx.Client,
    reader: httpx.Client,
    series_id: int,
    db: sessionmaker[Session],
) -> None:
    """A stamp of 2426 stored before uploads refused it made every analysis fail; an admin
    deletes it (bounds outside the domain are allowed for that) and the series works again."""
    for first in (0, 36):  # uploads take at most 50 rows here
        readings = hours(36, first=first, value=lambda h: h % 24 + 0.3 * ((h * 7) % 5))
        assert upload_json(writer, series_id, readings).status_code == 200
    with db() as session:
        session.add(Observation(series_id=series_id, ts=datetime(2426, 1, 1, tzinfo=UTC), value=1))
        session.commit()
    assert writer.post(f"/v1/series/{series_id}/analysis", json={}).status_code == 422

    url = f"/v1/series/{series_id}/observations"
    assert writer.delete(url, params={"start": "2200-01-01T00:00:00Z"}).status_code == 403
    assert admin.delete(url).status_code == 422  # no bound: not a way to wipe a series
    backwards = {"start": "2026-01-03T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
    assert admin.delete(url, params=backwards).status_code == 422
    repaired = admin.delete(url, params={"start": "2200-01-01T00:00:00Z"})
    assert repaired.status_code == 200 and repaired.json() == {"deleted": 1}
    assert len(stored(reader, series_id, limit=1000)) == 72
    assert writer.post(f"/v1/series/{series_id}/analysis", json={}).status_code == 201


@pytest.mark.slow
def test_concurrent_uploads_in_opposite_orders_never_deadlock(
    series_id: int, db: sessionmaker[Session]
) -> None:
    """Twenty uploads of the same 2,000 stamps, half of them in reverse order, at once: 13 of
    them failed with DeadlockDetected before rows were locked in stamp order (issue 10)."""
    stamps = [START + timedelta(hours=hour) for hour in range(2_000)]
    barrier = threading.Barrier(20)
    results: list[IngestCounts] = []
    errors: list[BaseException] = []

    def upload(descending: bool, value: float) -> None:
        ordered = stamps[::-1] if descending else stamps
        readings = [Reading(row, ts, value) for row, ts in enumerate(ordered)]
        try:
            with db() as session:
                barrier.wait()
                results.append(
                    ingest_observations(
                        session=session, series_id=series_id, readings=readings, max_rows=5_000
                    )
                )
        except BaseException as error:  # asserted below
            errors.append(error)

    threads = [threading.Thread(target=upload, args=(n % 2 == 1, float(n))) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 20 and sum(r.inserted for r in results) == 2_000
