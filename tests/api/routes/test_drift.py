"""Drift over HTTP: uploads judge served forecasts, the cron run and the summary, and who may call
what."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import DriftMetric, ModelVersion, Observation
from app.settings import Settings
from tests.api.lines import judge_drift, line_frame, line_settings, train, upload_line
from tests.fixtures.service import Keys

ALL_METRICS = 23  # 10 performance, 6 data, 1 stationarity, 6 prediction
PERFORMANCE_METRICS = 10
SERVED_HOURS = 48


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


@pytest.fixture
def line() -> pd.DataFrame:
    return line_frame(days=20, seed=3)


@pytest.fixture
def trained(
    make_series: Callable[..., dict[str, Any]], writer: httpx.Client, line: pd.DataFrame
) -> int:
    """A series with all but the last two days of the line, and a tiny model trained on it."""
    series_id = make_series(name="plant-d/line-1/throughput", frequency="h")["id"]
    upload_line(writer, series_id, line.iloc[:-SERVED_HOURS])
    assert train(writer, series_id)["status"] == "succeeded"
    return series_id


def _serve(reader: httpx.Client, writer: httpx.Client, series_id: int, line: pd.DataFrame) -> None:
    """Forecast six hours ahead, upload the six readings that follow, and so on: a client."""
    rest = line["throughput"].iloc[-SERVED_HOURS:]
    for start in range(0, SERVED_HOURS, 6):
        forecast = reader.post(f"/v1/series/{series_id}/forecast", json={})
        assert forecast.status_code in (200, 422), forecast.text  # 422: a stop before it
        chunk = rest.iloc[start : start + 6].dropna()
        items = [{"ts": ts.isoformat(), "value": float(v)} for ts, v in chunk.items()]
        if items:
            answer = writer.post(f"/v1/series/{series_id}/observations", json={"items": items})
            assert answer.status_code == 200, answer.text


def _rows(db: sessionmaker[Session]) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(DriftMetric)) or 0


@pytest.mark.slow
def test_uploads_of_actuals_judge_the_forecasts_served_and_the_series_shows_them(
    trained: int,
    reader: httpx.Client,
    writer: httpx.Client,
    line: pd.DataFrame,
    db: sessionmaker[Session],
) -> None:
    _serve(reader, writer, trained, line)
    answer = reader.get(f"/v1/series/{trained}/drift", params={"kind": "performance"})
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert items and {item["kind"] for item in items} == {"performance"}
    judged = [item for item in items if item["status"] != "unknown"]
    assert judged, "the last uploads brought at least 30 forecast steps' actuals"
    mae = next(item for item in judged if item["metric"] == "mae_ratio")
    assert mae["value"] > 0 and mae["direction"] == "above"
    assert mae["details"]["pairs"] >= 30
    # Only what the uploads judged: performance, never a full run.
    assert _rows(db) == len(items)

    only_mae = reader.get(f"/v1/series/{trained}/drift", params={"metric": "mae"}).json()
    assert {item["metric"] for item in only_mae["items"]} == {"mae"}
    last_end = max(item["window_end"] for item in items)
    before = reader.get(f"/v1/series/{trained}/drift", params={"end": last_end}).json()
    assert all(item["window_end"] < last_end for item in before["items"])
    assert len(before["items"]) < len(items)


@pytest.mark.slow
def test_the_cron_run_judges_every_kind_once_per_window_and_the_summary_shows_it(
    trained: int,
    make_series: Callable[..., dict[str, Any]],
    reader: httpx.Client,
    writer: httpx.Client,
    admin: httpx.Client,
    line: pd.DataFrame,
    db: sessionmaker[Session],
) -> None:
    _serve(reader, writer, trained, line)
    untrained = make_series(name="plant-d/line-2/empty", frequency="h")["id"]
    before = _rows(db)
    run = judge_drift(admin, {})
    assert (run["jobs"], run["metrics"], run["queued_runs"]) == ({"done": 1}, ALL_METRICS, [])
    assert run["skipped"] == run["failed"] == []
    assert set(run["alerting"]) <= {str(trained)}
    # The last upload judged the performance of this very window: those rows were updated.
    assert _rows(db) == before + ALL_METRICS - PERFORMANCE_METRICS
    # Again, no new reading: the same window, the same rows.
    assert judge_drift(admin, {})["metrics"] == ALL_METRICS
    assert _rows(db) == before + ALL_METRICS - PERFORMANCE_METRICS

    given = judge_drift(admin, {"series_ids": [untrained]})
    assert (given["jobs"], given["metrics"]) == ({"skipped": 1}, 0)
    assert given["skipped"] == [
        {"series_id": untrained, "reason": f"series {untrained} has no active model"}
    ]

    summary = reader.get("/v1/drift/summary")
    assert summary.status_code == 200, summary.text
    items = {item["series_id"]: item for item in summary.json()["items"]}
    assert items[untrained]["status"] is None and items[untrained]["alerting"] == []
    assert items[trained]["status"] in ("ok", "warn", "alert")
    assert items[trained]["latest_window_end"] is not None
    assert all(m["kind"] and m["alert_threshold"] is not None for m in items[trained]["alerting"])
    assert sum(summary.json()["counts"].values()) == 2


def test_a_failing_drift_never_fails_the_upload(
    trained: int,
    reader: httpx.Client,
    writer: httpx.Client,
    line: pd.DataFrame,
    db: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert reader.post(f"/v1/series/{trained}/forecast", json={}).status_code == 200
    # The artifact now fails its check: scoring the forecast cannot load the model.
    with db() as session:
        session.execute(update(ModelVersion).values(artifact_sha256="0" * 64))
        session.commit()
        stored = session.scalar(select(func.count()).select_from(Observation))
    rest = line["throughput"].iloc[-SERVED_HOURS:].dropna()
    items = [{"ts": ts.isoformat(), "value": float(v)} for ts, v in rest.items()]
    with caplog.at_level(logging.ERROR, logger="app.services.drift"):
        answer = writer.post(f"/v1/series/{trained}/observations", json={"items": items})
    assert answer.status_code == 200, answer.text
    assert answer.json()["inserted"] == len(items)
    assert "the upload is stored" in caplog.text
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Observation)) == stored + len(items)
    assert _rows(db) == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "role"),
    [
        ("GET", "/v1/series/{id}/drift", None, "read"),
        ("GET", "/v1/drift/summary", None, "read"),
        ("POST", "/v1/drift/run", {}, "admin"),
    ],
)
def test_the_endpoints_honour_the_roles(
    method: str,
    path: str,
    body: dict[str, Any] | None,
    role: str,
    series_id: int,
    anon: httpx.Client,
    reader: httpx.Client,
    writer: httpx.Client,
    admin: httpx.Client,
    keys: Keys,
) -> None:
    url = path.format(id=series_id)
    clients = {"read": reader, "write": writer, "admin": admin}
    allowed = {"read": ("read", "write", "admin"), "admin": ("admin",)}[role]
    for name, client in clients.items():
        answer = client.request(method, url, json=body)
        expected = (202 if method == "POST" else 200) if name in allowed else 403
        assert answer.status_code == expected, (name, answer.text)
        if expected == 403:
            assert answer.json()["detail"] == (
                f"this needs a key of role {role} or higher; this key has role {name}"
            )
    assert anon.request(method, url, json=body).status_code == 401
    revoked = {"Authorization": f"Bearer {keys.revoked}"}
    assert anon.request(method, url, json=body, headers=revoked).status_code == 401


def test_bad_drift_requests_get_a_clear_answer(
    series_id: int, reader: httpx.Client, admin: httpx.Client
) -> None:
    url = f"/v1/series/{series_id}/drift"
    backwards = reader.get(
        url, params={"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    )
    assert backwards.status_code == 422 and backwards.json()["detail"] == "start must be before end"
    naive = reader.get(url, params={"start": "2026-02-01T00:00:00"})
    assert naive.status_code == 422 and "timezone" in naive.json()["detail"]
    kind = reader.get(url, params={"kind": "weather"})
    assert kind.status_code == 422 and "query.kind" in kind.json()["detail"]
    nul = reader.get(url, params={"metric": "psi\x00"})  # was a 500 from PostgreSQL
    assert nul.status_code == 422 and "U+0000" in nul.json()["detail"]
    assert reader.get("/v1/series/999999/drift").status_code == 404
    unknown = admin.post("/v1/drift/run", json={"series_ids": [999_999]})
    assert unknown.status_code == 404 and unknown.json()["detail"] == "series 999999 not found"
    huge = admin.post("/v1/drift/run", json={"series_ids": [2**63]})  # was a 500
    assert huge.status_code == 422 and "series_ids" in huge.json()["detail"]
    extra = admin.post("/v1/drift/run", json={"series": [1]})
    assert extra.status_code == 422 and "body.series" in extra.json()["detail"]
    lost = reader.get(f"/v1/drift/runs/{'0' * 32}")
    assert lost.status_code == 404 and lost.json()["detail"] == f"drift run {'0' * 32} not found"
    assert reader.get("/v1/drift/runs/not-a-batch").status_code == 422
