"""The whole path over HTTP: create a series, ingest, analyse, train, forecast, and find the
predictions in the database."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Prediction, TrainingRun
from app.observability import (
    FORECASTS_TOTAL,
    TRAINING_RUNS_BY_STATUS,
)
from app.settings import Settings
from tests.api.lines import TINY, line_frame, line_settings, train, upload_line
from tests.api.test_metrics import samples


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


def test_create_ingest_analyse_train_forecast(
    make_series: Callable[..., dict[str, Any]],
    writer: httpx.Client,
    reader: httpx.Client,
    db: sessionmaker[Session],
) -> None:
    series = make_series(name="plant-a/line-1/throughput", frequency="h", unit="units/h")
    frame = line_frame(days=20, seed=0)
    counts = upload_line(writer, series["id"], frame)
    assert counts["inserted"] == int(frame["throughput"].notna().sum())

    analysis = writer.post(f"/v1/series/{series['id']}/analysis", json={})
    assert analysis.status_code == 201, analysis.text
    report = analysis.json()["report"]
    assert report["freq"] == "h" and 24 in [p["period"] for p in report["periods"]]
    assert report["recommended_mode"] in ("dsf", "bptt")
    listed = reader.get(f"/v1/series/{series['id']}/analysis").json()
    assert [a["id"] for a in listed] == [analysis.json()["id"]]

    run = train(writer, series["id"])
    assert run["status"] == "succeeded", run
    assert run["progress"] == 1.0
    versions = reader.get(f"/v1/series/{series['id']}/models").json()["items"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "active")]
    metrics = versions[0]["metrics"]
    assert versions[0]["backtest_error"] < metrics["naive_backtest_mse"]
    # The candidate table is part of the version's answer.
    selection = versions[0]["selection"]
    assert selection["serving"] == metrics["served"]
    assert versions[0]["training_mode"] == metrics["mode_used"]
    kinds = {row["kind"] for row in selection["selection"]["candidates"]}
    assert {"gru", "linear", "ets", "seasonal-naive", "repeat-last"} <= kinds

    response = reader.post(f"/v1/series/{series['id']}/forecast", json={})
    assert response.status_code == 200, response.text
    forecast = response.json()
    steps = forecast["forecast"]
    assert forecast["model_version"] == 1 and forecast["unit"] == "units/h"
    assert forecast["model"] == metrics["served"]
    assert len(steps) == TINY["horizon"]
    assert all(
        s["quantiles"]["0.1"] <= s["quantiles"]["0.5"] <= s["quantiles"]["0.9"] for s in steps
    )
    last_reading = frame["throughput"].dropna().index[-1]
    assert forecast["origin"] == last_reading.isoformat().replace("+00:00", "Z")
    assert forecast["request_id"] == response.headers["X-Request-ID"]
    # Plant units, not the scaled space: a ~100 units/h line.
    assert all(20 < s["quantiles"]["0.5"] < 250 for s in steps)

    with db() as session:
        stored = session.scalars(
            select(Prediction)
            .where(Prediction.request_id == forecast["request_id"])
            .order_by(Prediction.step)
        ).all()
    assert [p.step for p in stored] == list(range(1, TINY["horizon"] + 1))
    assert [p.median for p in stored] == [s["quantiles"]["0.5"] for s in steps]
    assert {p.model_version_id for p in stored} == {forecast["model_version_id"]}

    metrics = samples(reader.get("/metrics").text)
    assert metrics[(f"{FORECASTS_TOTAL}", frozenset())] == 1
    assert metrics[(TRAINING_RUNS_BY_STATUS, frozenset({("status", "succeeded")}))] == 1
    assert metrics[(TRAINING_RUNS_BY_STATUS, frozenset({("status", "queued")}))] == 0


def test_concurrent_train_requests_make_one_run(
    make_series: Callable[..., dict[str, Any]],
    writer: httpx.Client,
    base_url: str,
    keys: Any,
    db: sessionmaker[Session],
) -> None:
    series_id = make_series(name="plant-a/line-2/throughput", frequency="h")["id"]
    upload_line(writer, series_id, line_frame(days=20, seed=1))

    def ask(_: int) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {keys.write}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
            response = client.post(f"/v1/series/{series_id}/train", json=TINY)
            assert response.status_code == 202, response.text
            return response.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert sum(a["created"] for a in answers) == 1
    assert len({a["run"]["id"] for a in answers}) == 1
    with db() as session:
        runs = session.scalar(
            select(func.count()).select_from(TrainingRun).where(TrainingRun.series_id == series_id)
        )
    assert runs == 1
