"""`POST /v1/observations`: a plant's scan of many tags, stored all or nothing across series."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.conftest import MAX_INGEST_ROWS, Snapshot
from tests.api.routes.test_observations import stored

START = datetime(2026, 1, 5, tzinfo=UTC)
TAGS = ("plant-s/line-1/throughput", "plant-s/line-1/current", "plant-s/line-1/temperature")


def _scans(hours: int, tags: tuple[str, ...] = TAGS, first: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "ts": (START + timedelta(hours=hour)).isoformat(),
            "values": {tag: hour + n / 10 for n, tag in enumerate(tags)},
        }
        for hour in range(first, first + hours)
    ]


def _tags(make_series: Callable[..., dict[str, Any]]) -> dict[str, int]:
    return {tag: make_series(name=tag, frequency="h")["id"] for tag in TAGS}


def test_a_scan_stores_every_tag_and_a_repeat_changes_nothing(
    make_series: Callable[..., dict[str, Any]], writer: httpx.Client, reader: httpx.Client
) -> None:
    ids = _tags(make_series)
    answer = writer.post("/v1/observations", json={"scans": _scans(4)})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"series": 3, "inserted": 12, "updated": 0, "unchanged": 0}
    again = writer.post("/v1/observations", json={"scans": _scans(4)})
    assert again.json() == {"series": 3, "inserted": 0, "updated": 0, "unchanged": 12}
    assert [row["value"] for row in stored(reader, ids[TAGS[1]])] == [0.1, 1.1, 2.1, 3.1]
    # A later scan may name fewer tags; a changed reading is an update.
    partial = [{"ts": START.isoformat(), "values": {TAGS[0]: 99.0}}]
    changed = writer.post("/v1/observations", json={"scans": partial})
    assert changed.json() == {"series": 1, "inserted": 0, "updated": 1, "unchanged": 0}
    assert stored(reader, ids[TAGS[0]])[0]["value"] == 99.0


def test_one_bad_tag_or_row_stores_nothing_of_any_series(
    make_series: Callable[..., dict[str, Any]],
    writer: httpx.Client,
    admin: httpx.Client,
    snapshot: Callable[[], Snapshot],
) -> None:
    ids = _tags(make_series)
    assert writer.post("/v1/observations", json={"scans": _scans(2)}).status_code == 200
    before = snapshot()

    unknown = _scans(3, tags=(*TAGS, "plant-s/line-9/typo"), first=2)
    answer = writer.post("/v1/observations", json={"scans": unknown})
    assert answer.status_code == 422, answer.text
    assert answer.json()["rejected"] == [
        {"row": 1, "reason": "no series is named 'plant-s/line-9/typo'"}
    ]
    repeated = _scans(2, first=2) + _scans(1, tags=TAGS[:1], first=2)
    answer = writer.post("/v1/observations", json={"scans": repeated})
    assert answer.status_code == 422 and "row 3: timestamp" in answer.json()["detail"]
    bad_value = _scans(1, first=2)
    bad_value[0]["values"][TAGS[2]] = "12"
    answer = writer.post("/v1/observations", json={"scans": bad_value})
    assert answer.status_code == 422 and "values" in answer.json()["detail"]
    too_many = _scans(MAX_INGEST_ROWS // len(TAGS) + 1, first=2)
    answer = writer.post("/v1/observations", json={"scans": too_many})
    assert answer.status_code == 422 and "the most one upload takes" in answer.json()["detail"]
    admin.post(f"/v1/series/{ids[TAGS[1]]}/archive").raise_for_status()
    answer = writer.post("/v1/observations", json={"scans": _scans(1, first=2)})
    assert answer.status_code == 409
    assert answer.json()["detail"] == f"series {ids[TAGS[1]]} is archived"
    assert writer.post("/v1/observations", json={"scans": []}).status_code == 422
    assert snapshot()["observations"] == before["observations"]  # the archiving is the change
