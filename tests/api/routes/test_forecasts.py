"""Forecast requests over HTTP: options, inline context, and refusals that store nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import ApiKey, Prediction
from app.settings import Settings
from tests.api.lines import TINY, line_frame, line_settings, train, upload_line
from tests.fixtures.service import Keys


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


@pytest.fixture
def trained(make_series: Callable[..., dict[str, Any]], writer: httpx.Client) -> int:
    series_id = make_series(name="plant-d/line-1/throughput", frequency="h")["id"]
    upload_line(writer, series_id, line_frame(days=20, seed=4))
    assert train(writer, series_id)["status"] == "succeeded"
    return series_id


def _predictions(db: sessionmaker[Session]) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Prediction)) or 0


def test_shorter_horizon_and_chosen_quantiles(trained: int, reader: httpx.Client) -> None:
    answer = reader.post(f"/v1/series/{trained}/forecast", json={"horizon": 3, "quantiles": [0.5]})
    assert answer.status_code == 200, answer.text
    steps = answer.json()["forecast"]
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert all(set(s["quantiles"]) == {"0.5"} for s in steps)


def test_inline_context_forecasts_after_its_last_reading(
    trained: int, reader: httpx.Client
) -> None:
    frame = line_frame(days=20, seed=4)["throughput"].dropna().iloc[-60:-10]
    context = [{"ts": stamp.isoformat(), "value": value} for stamp, value in frame.items()]
    answer = reader.post(f"/v1/series/{trained}/forecast", json={"context": context})
    assert answer.status_code == 200, answer.text
    assert answer.json()["origin"] == frame.index[-1].isoformat().replace("+00:00", "Z")


def test_bad_forecast_requests_store_nothing(
    trained: int,
    make_series: Callable[..., dict[str, Any]],
    reader: httpx.Client,
    db: sessionmaker[Session],
) -> None:
    untrained = make_series(name="plant-d/line-2/throughput", frequency="h")["id"]
    short = [{"ts": f"2026-01-01T{h:02d}:00:00Z", "value": 1.0 + h} for h in range(5)]
    huge = [
        {"ts": f"2026-01-{1 + h // 24:02d}T{h % 24:02d}:00:00Z", "value": 1e308 * (-1) ** h}
        for h in range(72)
    ]
    url = f"/v1/series/{trained}/forecast"
    cases = [
        (reader.post(url, json={"horizon": TINY["horizon"] + 1}), 422, "1 to 6 steps"),
        (reader.post(url, json={"quantiles": [0.25]}), 422, "quantile 0.25 is not one"),
        (reader.post(url, json={"horizon": 0}), 422, "horizon"),
        (reader.post(url, json={"context": short}), 422, "reads 24 steps"),
        # These answered 500 (issue 10): an empty context, one stamp twice, and readings so
        # large the forecast overflows.
        (reader.post(url, json={"context": []}), 422, "at least 1 item"),
        (reader.post(url, json={"context": short + short[:1]}), 422, "repeats item 0"),
        (reader.post(url, json={"context": huge}), 422, "less than or equal to 1000000000000000"),
        (reader.post(url, json={"horizon": "soon"}), 422, "horizon"),
        (reader.post(f"/v1/series/{untrained}/forecast", json={}), 409, "train it first"),
        (reader.post("/v1/series/424242/forecast", json={}), 404, "not found"),
    ]
    for response, code, words in cases:
        assert response.status_code == code, response.text
        assert words in response.json()["detail"], response.text
    assert _predictions(db) == 0


def test_a_request_id_is_a_label_of_its_caller_not_a_global_key(
    trained: int,
    reader: httpx.Client,
    writer: httpx.Client,
    db: sessionmaker[Session],
    keys: Keys,
) -> None:
    """Sending one id twice, or an id another client used, forecasts and stores each time."""
    headers = {"X-Request-ID": "plant-d-forecast-1"}
    url = f"/v1/series/{trained}/forecast"
    answers = [
        reader.post(url, json={}, headers=headers),
        reader.post(url, json={}, headers=headers),
        writer.post(url, json={}, headers=headers),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert {b["request_id"] for b in bodies} == {"plant-d-forecast-1"}
    assert len({b["forecast_id"] for b in bodies}) == 3
    with db() as session:
        owners = dict(
            session.execute(
                select(Prediction.forecast_id, ApiKey.name)
                .join(ApiKey, ApiKey.id == Prediction.api_key_id)
                .distinct()
            ).all()
        )
    assert owners == {
        bodies[0]["forecast_id"]: "test-read",
        bodies[1]["forecast_id"]: "test-read",
        bodies[2]["forecast_id"]: "test-write",
    }
