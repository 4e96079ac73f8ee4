"""`POST /v1/forecasts`: many series in one request, each forecast as it would be alone, the
ones that cannot be forecast named, everything served stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Prediction
from app.settings import Settings
from tests.api.lines import line_frame, line_settings, train, upload_line


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


@pytest.fixture
def line_series(make_series: Callable[..., dict[str, Any]], writer: httpx.Client) -> dict[str, int]:
    """Two trained series of plant-b/line-1, one without a model, one of another line."""
    ids = {}
    for name, seed in (("first", 1), ("second", 2), ("untrained", 3)):
        series = make_series(
            name=f"plant-b/line-1/{name}", frequency="h", plant="plant-b", line="line-1"
        )
        upload_line(writer, series["id"], line_frame(days=12, seed=seed))
        ids[name] = series["id"]
    for name in ("first", "second"):
        assert train(writer, ids[name])["status"] == "succeeded"
    ids["elsewhere"] = make_series(name="plant-b/line-2/x", plant="plant-b", line="line-2")["id"]
    return ids


def _stored(db: sessionmaker[Session]) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Prediction)) or 0


def test_a_batch_serves_each_series_as_a_single_request_would(
    line_series: dict[str, int], reader: httpx.Client, db: sessionmaker[Session]
) -> None:
    first, second, untrained = (line_series[n] for n in ("first", "second", "untrained"))
    answer = reader.post("/v1/forecasts", json={"series_ids": [second, untrained, first]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [item["series_id"] for item in body["items"]] == [second, first]
    assert body["skipped"] == [
        {
            "series_id": untrained,
            "reason": f"series {untrained} has no active model; train it first",
        }
    ]
    steps = sum(len(item["forecast"]) for item in body["items"])
    assert _stored(db) == steps > 0
    alone = reader.post(f"/v1/series/{first}/forecast", json={}).json()
    batched = body["items"][1]
    assert batched["forecast"] == alone["forecast"]
    assert (batched["origin"], batched["model"]) == (alone["origin"], alone["model"])
    assert batched["forecast_id"] != alone["forecast_id"]


def test_a_line_is_chosen_by_plant_and_line(
    line_series: dict[str, int], reader: httpx.Client, admin: httpx.Client
) -> None:
    admin.post(f"/v1/series/{line_series['second']}/archive").raise_for_status()
    answer = reader.post(
        "/v1/forecasts",
        json={"plant": "plant-b", "line": "line-1", "horizon": 3, "quantiles": [0.5]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [item["series_id"] for item in body["items"]] == [line_series["first"]]
    assert [len(item["forecast"]) for item in body["items"]] == [3]
    assert list(body["items"][0]["forecast"][0]["quantiles"]) == ["0.5"]
    assert [entry["series_id"] for entry in body["skipped"]] == [line_series["untrained"]]
    by_id = reader.post("/v1/forecasts", json={"series_ids": [line_series["second"]]}).json()
    assert by_id["skipped"][0]["reason"] == f"series {line_series['second']} is archived"


def test_bad_batches_are_refused_before_anything_is_stored(
    line_series: dict[str, int],
    reader: httpx.Client,
    anon: httpx.Client,
    db: sessionmaker[Session],
) -> None:
    unknown = reader.post("/v1/forecasts", json={"series_ids": [line_series["first"], 999_999]})
    assert unknown.status_code == 404 and unknown.json()["detail"] == "series 999999 not found"
    nowhere = reader.post("/v1/forecasts", json={"plant": "plant-z"})
    assert nowhere.status_code == 404
    assert nowhere.json()["detail"] == "no unarchived series in plant 'plant-z'"
    for body in ({}, {"series_ids": [1], "plant": "plant-b"}):
        refused = reader.post("/v1/forecasts", json=body)
        assert refused.status_code == 422 and "either series_ids or a plant" in refused.text
    too_far = reader.post(
        "/v1/forecasts", json={"series_ids": [line_series["first"]], "horizon": 999}
    )
    assert too_far.status_code == 200
    assert too_far.json()["items"] == [] and "outside what the active model" in too_far.text
    assert anon.post("/v1/forecasts", json={"series_ids": [1]}).status_code == 401
    assert _stored(db) == 0
