"""Model versions over HTTP: the gate keeps a worse model out, an operator can promote and
roll back, and forecasts follow the active version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.api.main import create_app
from app.settings import Settings
from tests.api.lines import line_frame, line_settings, train, upload_line, wait_for_outcome


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


@pytest.fixture
def trained(make_series: Callable[..., dict[str, Any]], writer: httpx.Client) -> int:
    """A series whose first version (v1) is active."""
    series_id = make_series(name="plant-b/line-1/energy", frequency="h")["id"]
    upload_line(writer, series_id, line_frame(days=20, seed=2))
    assert train(writer, series_id)["status"] == "succeeded"
    return series_id


def _versions(client: httpx.Client, series_id: int) -> dict[int, dict[str, Any]]:
    items = client.get(f"/v1/series/{series_id}/models").json()["items"]
    return {v["version"]: v for v in items}


@pytest.mark.slow
def test_a_candidate_that_does_not_beat_the_active_one_is_rejected(
    trained: int,
    migrated_url: str,
    keys: Any,
    serve: Callable[[FastAPI], Any],
) -> None:
    # A second service whose gate demands a 99 % lower backtest error: no retrain can pass.
    strict = create_app(line_settings(migrated_url, retrain_margin=0.99))
    with serve(strict) as url:
        headers = {"Authorization": f"Bearer {keys.write}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            run = train(client, trained, seed=1)
            versions = _versions(client, trained)
            forecast = client.post(f"/v1/series/{trained}/forecast", json={}).json()
    assert run["status"] == "rejected"
    assert "does not beat active v1" in run["message"] and "99% margin" in run["message"]
    assert versions[1]["status"] == "active"
    assert versions[2]["status"] == "rejected"
    assert versions[2]["status_reason"] == run["message"]
    assert forecast["model_version"] == 1


@pytest.mark.slow
def test_promote_and_roll_back(trained: int, admin: httpx.Client) -> None:
    # A second version (promoted by the gate or rejected by it), which an operator then
    # promotes by hand and rolls back.
    [queued] = admin.post("/v1/retrain", json={"series_ids": [trained]}).json()["runs"]
    wait_for_outcome(admin, queued["run_id"])
    versions = _versions(admin, trained)
    assert set(versions) == {1, 2}
    promoted = admin.post(
        f"/v1/series/{trained}/models/{versions[2]['id']}/promote", json={"reason": "try v2"}
    )
    assert promoted.status_code == 200, promoted.text
    after = _versions(admin, trained)
    assert (after[1]["status"], after[2]["status"]) == ("retired", "active")
    assert admin.post(f"/v1/series/{trained}/forecast", json={}).json()["model_version"] == 2

    rollback = admin.post(f"/v1/series/{trained}/models/{versions[1]['id']}/promote")
    assert rollback.status_code == 200, rollback.text
    after = _versions(admin, trained)
    assert (after[1]["status"], after[2]["status"]) == ("active", "retired")
    assert admin.post(f"/v1/series/{trained}/forecast", json={}).json()["model_version"] == 1


def test_retire_and_unknown_versions(trained: int, admin: httpx.Client) -> None:
    versions = _versions(admin, trained)
    assert admin.post(f"/v1/series/{trained}/models/999999/promote").status_code == 404
    retired = admin.post(f"/v1/series/{trained}/models/{versions[1]['id']}/retire")
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    answer = admin.post(f"/v1/series/{trained}/forecast", json={})
    assert answer.status_code == 409
    assert "no active model" in answer.json()["detail"]
