"""`/v1/series`: create, list, read, archive; bad input refused with nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import Snapshot

MakeSeries = Callable[..., dict[str, Any]]


def test_create_read_list_and_archive(
    writer: httpx.Client, reader: httpx.Client, admin: httpx.Client
) -> None:
    fields = {
        "name": "plant-a/line-3/throughput",
        "unit": "parts/h",
        "frequency": "60min",
        "plant": "plant-a",
        "line": "line-3",
        "description": "Good parts leaving the packer",
        "timezone": "Europe/Berlin",
        "attributes": {"shift_model": "3x8", "capacity": 1200, "audited": True, "note": None},
        "channels": [
            {"name": "setpoint", "role": "known", "unit": "parts/h"},
            {"name": "motor_current", "role": "observed", "unit": None},
        ],
    }
    response = writer.post("/v1/series", json=fields)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created == {
        **fields,
        "frequency": "h",  # stored canonical
        "id": created["id"],
        "created_at": created["created_at"],
        "archived_at": None,
    }
    assert created["created_at"].endswith("Z") or created["created_at"].endswith("+00:00")

    assert reader.get(f"/v1/series/{created['id']}").json() == created
    listed = reader.get("/v1/series").json()
    assert listed == {"items": [created], "total": 1, "limit": 50, "offset": 0}

    archived = admin.post(f"/v1/series/{created['id']}/archive")
    assert archived.status_code == 200
    archived_at = archived.json()["archived_at"]
    assert archived_at is not None
    again = admin.post(f"/v1/series/{created['id']}/archive")
    assert again.status_code == 200
    assert again.json()["archived_at"] == archived_at

    assert reader.get("/v1/series").json()["total"] == 0
    with_archived = reader.get("/v1/series", params={"include_archived": True}).json()
    assert [item["id"] for item in with_archived["items"]] == [created["id"]]
    assert reader.get(f"/v1/series/{created['id']}").json()["archived_at"] == archived_at


def test_minimal_series_gets_defaults(make_series: MakeSeries) -> None:
    created = make_series(name="s")
    assert created["timezone"] == "UTC"
    assert created["attributes"] == {}
    assert created["channels"] == []
    assert created["frequency"] is None


@pytest.mark.parametrize(("given", "stored"), [("h", "h"), ("15min", "15min"), ("1D", "24h")])
def test_frequency_is_stored_canonical(given: str, stored: str, make_series: MakeSeries) -> None:
    assert make_series(name=f"freq {given}", frequency=given)["frequency"] == stored


def test_list_pages_by_id(make_series: MakeSeries, reader: httpx.Client) -> None:
    ids = [make_series(name=f"series {n}")["id"] for n in range(5)]
    first = reader.get("/v1/series", params={"limit": 2}).json()
    last = reader.get("/v1/series", params={"limit": 2, "offset": 4}).json()
    assert [item["id"] for item in first["items"]] == ids[:2]
    assert [item["id"] for item in last["items"]] == ids[4:]
    assert first["total"] == last["total"] == 5
    assert (last["limit"], last["offset"]) == (2, 4)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
        ({"offset": -1}, "query.offset"),
        ({"include_archived": "perhaps"}, "query.include_archived"),
    ],
)
def test_bad_list_parameters_are_422(
    params: dict[str, Any], field: str, reader: httpx.Client
) -> None:
    response = reader.get("/v1/series", params=params)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{field}: ")


def test_unknown_series_is_404_and_a_bad_id_422(reader: httpx.Client) -> None:
    missing = reader.get("/v1/series/999")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "series 999 not found"
    # 2**31 and beyond overflowed the 32-bit id columns: a 500 before (issue 10).
    for bad in ("abc", "0", "-1", "1.5", "2147483648", str(2**63)):
        response = reader.get(f"/v1/series/{bad}")
        assert response.status_code == 422, bad
        assert response.json()["detail"].startswith("path.series_id: ")


def test_archiving_an_unknown_series_is_404(admin: httpx.Client) -> None:
    assert admin.post("/v1/series/12345/archive").json()["detail"] == "series 12345 not found"


def test_duplicate_name_is_409_and_stores_nothing(
    make_series: MakeSeries, writer: httpx.Client, snapshot: Callable[[], Snapshot]
) -> None:
    make_series(name="taken")
    before = snapshot()
    response = writer.post("/v1/series", json={"name": "taken", "unit": "kg"})
    assert response.status_code == 409
    assert response.json()["detail"] == "a series named 'taken' already exists"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "'; DROP TABLE series; --"}, "body.name", "may only contain letters"),
        ({"name": "../../etc"}, "body.name", "path segment"),
        ({"name": "/etc/passwd"}, "body.name", "must not start with /"),
        ({"name": "a/./b"}, "body.name", "path segment"),
        ({"name": "x" * 10_000}, "body.name", "at most 200 characters"),
        ({"name": ""}, "body.name", "at least 1 character"),
        ({"name": " padded"}, "body.name", "must not start or end with a space"),
        ({"name": "tab\there"}, "body.name", "may only contain letters"),
        ({"name": "nul\x00byte"}, "body.name", "may only contain letters"),
        ({"name": "Ölpumpe"}, "body.name", "may only contain letters"),
        ({"name": 42}, "body.name", "valid string"),
        ({"unit": "kg"}, "body.name", "Field required"),
        ({"name": "s", "frequency": "M"}, "body.frequency", "not a fixed pandas step"),
        ({"name": "s", "frequency": "month"}, "body.frequency", "not a fixed pandas step"),
        ({"name": "s", "frequency": "0h"}, "body.frequency", "step must be positive"),
        ({"name": "s", "timezone": "Mars/Olympus"}, "body.timezone", "not an IANA time zone"),
        ({"name": "s", "timezone": "../../etc/passwd"}, "body.timezone", "not an IANA"),
        (
            {"name": "s", "attributes": {f"k{n}": n for n in range(51)}},
            "body.attributes",
            "at most 50 items",
        ),
        ({"name": "s", "attributes": {"nested": {"a": 1}}}, "body.attributes.nested", ""),
        # PostgreSQL cannot store NUL: these answered 500 (issue 10).
        ({"name": "s", "description": "a\x00b"}, "body.description", "control character U+0000"),
        ({"name": "s", "unit": "kg\x00"}, "body.unit", "control character U+0000"),
        ({"name": "s", "plant": "p\x07"}, "body.plant", "control character U+0007"),
        ({"name": "s", "attributes": {"k\x00": 1}}, "body.attributes.k", "U+0000"),
        ({"name": "s", "attributes": {"k": "v\x00"}}, "body.attributes.k.", "U+0000"),
        ({"name": "s", "frequncy": "h"}, "body.frequncy", "Extra inputs are not permitted"),
        ({"name": "s", "id": 7}, "body.id", "Extra inputs are not permitted"),
    ],
)
def test_bad_series_are_422_naming_the_field_and_store_nothing(
    body: dict[str, Any],
    field: str,
    message: str,
    writer: httpx.Client,
    snapshot: Callable[[], Snapshot],
) -> None:
    before = snapshot()
    response = writer.post("/v1/series", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith(f"{field}")
    assert message in detail
    assert len(detail) < 2_000  # a hostile value is not echoed back whole
    assert snapshot() == before


def test_a_body_that_is_not_json_is_422(writer: httpx.Client) -> None:
    response = writer.post(
        "/v1/series", content=b"{name: s}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body is not valid JSON: ")
