"""Backtests and exports over HTTP: a real tiny model trained twice, its gate's errors by step
and origin as JSON and CSV, past forecasts with their actuals as CSV, and who may read them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings
from tests.api.lines import TINY, line_frame, line_settings, train, upload_line
from tests.services.conftest import add_series, add_version

LATER = 12  # readings uploaded after the forecast, as its actuals


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


@dataclass(frozen=True)
class Trained:
    series_id: int
    first: dict[str, Any]
    second: dict[str, Any]
    forecast: dict[str, Any]


@pytest.fixture
def trained(make_series: Callable[..., dict[str, Any]], writer: httpx.Client) -> Trained:
    """A series trained twice (v2 judged against v1), forecast once, then the next readings."""
    series_id = make_series(name="plant-c/line-2/throughput", frequency="h")["id"]
    frame = line_frame(days=20, seed=4)
    readings = frame.dropna()
    upload_line(writer, series_id, frame.loc[: readings.index[-LATER - 1]])
    assert train(writer, series_id, seed=0)["status"] == "succeeded"
    train(writer, series_id, seed=1)
    forecast = writer.post(f"/v1/series/{series_id}/forecast", json={}).json()
    upload_line(writer, series_id, readings.iloc[-LATER:])
    versions = writer.get(f"/v1/series/{series_id}/models").json()["items"]
    by_number = {version["version"]: version for version in versions}
    return Trained(series_id, by_number[1], by_number[2], forecast)


def _csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


@pytest.mark.slow
def test_backtest_json_csv_and_predictions_export(
    trained: Trained, reader: httpx.Client, anon: httpx.Client
) -> None:
    series, second = trained.series_id, trained.second
    url = f"/v1/series/{series}/models/{second['id']}/backtest"
    assert anon.get(url).status_code == 401
    assert anon.get(f"{url}.csv").status_code == 401
    assert anon.get(f"/v1/series/{series}/predictions.csv").status_code == 401

    response = reader.get(url)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["available"] is True and body["message"] is None
    assert (body["model_version"], body["gate"]) == (2, second["status_reason"])
    assert body["selection"] == second["selection"]
    assert body["steps"] == TINY["horizon"]
    roles = {model["role"]: model for model in body["models"]}
    # v2 was judged against v1, the active model at the time.
    assert (
        {"candidate", "repeat-last", "active"}
        <= set(roles)
        <= {
            "candidate",
            "repeat-last",
            "fallback",
            "active",
        }
    )
    metrics = second["metrics"]
    assert len(body["origins"]) == metrics["backtest_origins"]
    assert roles["candidate"]["mse"] == pytest.approx(second["backtest_error"])
    assert roles["candidate"]["mae"] == pytest.approx(metrics["backtest_mae"])
    assert roles["repeat-last"]["mse"] == pytest.approx(metrics["naive_backtest_mse"])
    assert roles["active"]["mse"] == pytest.approx(metrics["active_backtest_mse"])
    for model in body["models"]:
        assert len(model["step_mse"]) == len(model["step_mae"]) == TINY["horizon"]
        assert len(model["origin_mse"]) == len(model["origin_mae"]) == len(body["origins"])
        # Every gate origin lies a horizon before the end: each step of each origin scored.
        assert pd.Series(model["step_mse"]).mean() == pytest.approx(model["mse"])
        assert pd.Series(model["origin_mae"]).mean() == pytest.approx(model["mae"])

    rows = _csv(reader.get(f"{url}.csv"))
    assert list(rows[0]) == ["by", "role", "model", "step", "origin", "mse", "mae"]
    per_model = 1 + TINY["horizon"] + len(body["origins"])
    assert len(rows) == per_model * len(body["models"])
    candidate = roles["candidate"]
    steps = [r for r in rows if r["by"] == "step" and r["role"] == "candidate"]
    assert [int(r["step"]) for r in steps] == list(range(1, TINY["horizon"] + 1))
    assert [float(r["mse"]) for r in steps] == candidate["step_mse"]
    origins = [r for r in rows if r["by"] == "origin" and r["role"] == "candidate"]
    assert [pd.Timestamp(r["origin"]) for r in origins] == [
        pd.Timestamp(o) for o in body["origins"]
    ]
    assert [float(r["mae"]) for r in origins] == candidate["origin_mae"]

    exported = _csv(reader.get(f"/v1/series/{series}/predictions.csv"))
    forecast = trained.forecast
    assert len(exported) == len(forecast["forecast"])
    assert {r["forecast_id"] for r in exported} == {forecast["forecast_id"]}
    for row, step in zip(exported, forecast["forecast"], strict=True):
        assert pd.Timestamp(row["ts"]) == pd.Timestamp(step["timestamp"])
        assert float(row["median"]) == pytest.approx(step["quantiles"]["0.5"])
        assert float(row["lower"]) <= float(row["median"]) <= float(row["upper"])
        assert row["actual"] != ""  # the readings uploaded after the forecast
        assert float(row["error"]) == pytest.approx(float(row["actual"]) - float(row["median"]))
        assert row["inside_interval"] in {"true", "false"}
    # A window past the forecast holds nothing but the header.
    last = pd.Timestamp(forecast["forecast"][-1]["timestamp"])
    after = {"start": (last + pd.Timedelta(hours=1)).isoformat()}
    empty = reader.get(f"/v1/series/{series}/predictions.csv", params=after)
    assert _csv(empty) == [] and empty.text.startswith("forecast_id,")
    window = {"start": forecast["forecast"][1]["timestamp"], "end": last.isoformat()}
    middle = _csv(reader.get(f"/v1/series/{series}/predictions.csv", params=window))
    assert [int(r["step"]) for r in middle] == list(range(2, len(forecast["forecast"])))


def test_versions_without_a_breakdown_and_unknown_versions(
    db: sessionmaker[Session],
    line: pd.DataFrame,
    tiny_artifact: bytes,
    reader: httpx.Client,
) -> None:
    with db() as session:
        series = add_series(session, line, name="plant-d/line-1/energy", frequency="h")
        other = add_series(session, line.iloc[:10], name="plant-d/line-2/energy")
        old = add_version(session, series.id, tiny_artifact, version=1, status="active")
        series_id, other_id, old_id = series.id, other.id, old.id

    body = reader.get(f"/v1/series/{series_id}/models/{old_id}/backtest").json()
    assert (body["available"], body["models"], body["origins"]) == (False, [], [])
    assert "stored before" in body["message"]
    assert reader.get(f"/v1/series/{series_id}/models/{old_id}/backtest.csv").text == (
        "by,role,model,step,origin,mse,mae\n"
    )
    for path in (
        f"/v1/series/{series_id}/models/999999/backtest",
        f"/v1/series/{series_id}/models/999999/backtest.csv",
        f"/v1/series/{other_id}/models/{old_id}/backtest",  # another series' version
        "/v1/series/999999/models/1/backtest",
        "/v1/series/999999/predictions.csv",
    ):
        response = reader.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json"
    refused = reader.get(
        f"/v1/series/{series_id}/predictions.csv",
        params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    )
    assert refused.status_code == 422 and "start must be before end" in refused.text
    assert reader.get(f"/v1/series/{series_id}/predictions.csv").text == (
        "forecast_id,request_id,model_version_id,origin,ts,step,lower,median,upper,actual,"
        "error,inside_interval\n"
    )
