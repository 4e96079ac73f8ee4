"""Global models over HTTP against the served app: training one for a plant queues a run that
the in-process executor takes to an outcome, every series of the plant gets a version decided
by its own gate, a new series of the plant is forecast by it from its first week and the
answer says so, a global-backed version rolls back like any other, and who may call what."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.api.lines import RUN_TIMEOUT_S, line_frame, line_settings, train, upload_line

PLANT = "plant-g"
# Tiny and seeded: the test is about what the service stores and serves.
GLOBAL = {
    "name": PLANT,
    "plant": PLANT,
    "horizon": 6,
    "context": 24,
    "hidden": 8,
    "epochs": 1,
    "steps_per_epoch": 3,
    "embedding": 2,
    "seed": 0,
}


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


def _wait(client: httpx.Client, run_id: int) -> dict[str, Any]:
    """Poll the global run until it leaves queued/running."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        run = client.get(f"/v1/global-runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"global run {run_id} still {run['status']} after {RUN_TIMEOUT_S}s")


def _versions(client: httpx.Client, series_id: int) -> dict[int, dict[str, Any]]:
    items = client.get(f"/v1/series/{series_id}/models").json()["items"]
    return {v["version"]: v for v in items}


def _forecast(client: httpx.Client, series_id: int) -> dict[str, Any]:
    answer = client.post(f"/v1/series/{series_id}/forecast", json={})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.slow
def test_a_plant_trains_one_model_that_serves_each_series_its_gate_chose(
    make_series: Callable[..., dict[str, Any]],
    writer: httpx.Client,
    admin: httpx.Client,
    reader: httpx.Client,
) -> None:
    fresh = make_series(name=f"{PLANT}/l1/throughput", plant=PLANT, line="l1", frequency="h")
    upload_line(writer, fresh["id"], line_frame(days=10, seed=0))
    modelled = make_series(name=f"{PLANT}/l2/throughput", plant=PLANT, line="l2", frequency="h")
    upload_line(writer, modelled["id"], line_frame(days=10, seed=1))
    local = train(writer, modelled["id"])
    assert local["status"] == "succeeded", local

    answer = admin.post("/v1/global-models", json=GLOBAL)
    assert answer.status_code == 202, answer.text
    queued = answer.json()
    assert queued["created"] is True and queued["run"]["status"] in ("queued", "running")
    run = _wait(reader, queued["run"]["id"])
    assert run["status"] == "succeeded", run
    assert run["requested_by"] == "test-admin" and run["progress"] == 1.0

    [listed] = reader.get("/v1/global-models").json()["items"]
    assert listed["id"] == run["global_model_id"] and listed["status"] == "active"
    assert listed["selector"] == {"plant": PLANT, "line": None}
    detail = reader.get(f"/v1/global-models/{listed['id']}").json()
    members = {m["series_id"]: m for m in detail["members"]}
    assert set(members) == {fresh["id"], modelled["id"]}
    assert detail["metrics"]["promoted"] + detail["metrics"]["rejected"] == 2
    # The series without a model of its own: the gate promoted the global model's version.
    assert members[fresh["id"]]["status"] == "active"
    assert members[fresh["id"]]["status_reason"].startswith("first model: gru:global")
    [version] = _versions(reader, fresh["id"]).values()
    assert version["training_mode"] == "global" and version["global_model_id"] == listed["id"]
    assert _forecast(reader, fresh["id"])["model"] == "gru:global"
    # The series with a model of its own: its gate compared the two and said why.
    gated = _versions(reader, modelled["id"])
    assert gated[2]["global_model_id"] == listed["id"]
    assert gated[2]["status"] == members[modelled["id"]]["status"]
    assert "active v1" in gated[2]["status_reason"]

    # A new line of the plant with a week of readings: the global model serves it at once.
    new = make_series(name=f"{PLANT}/l9/throughput", plant=PLANT, line="l9", frequency="h")
    upload_line(writer, new["id"], line_frame(days=7, seed=5))
    served = _forecast(reader, new["id"])
    assert served["model"] == "gru:global-cold-start" and len(served["forecast"]) == 6
    cold = _versions(reader, new["id"])[1]
    assert cold["id"] == served["model_version_id"] and cold["status"] == "active"
    assert cold["status_reason"].startswith("cold start")
    assert cold["global_model_id"] == listed["id"]

    # Rolling back is promoting: the series' local v1, then the global model's version again.
    def promote(version: dict[str, Any]) -> str:
        path = f"/v1/series/{modelled['id']}/models/{version['id']}/promote"
        answer = admin.post(path, json={"reason": "test"})
        assert answer.status_code == 200, answer.text
        return _forecast(reader, modelled["id"])["model"]

    assert promote(gated[1]) == local["metrics"]["served"]
    assert promote(gated[2]) == "gru:global"
    after = _versions(reader, modelled["id"])
    assert (after[1]["status"], after[2]["status"]) == ("retired", "active")


def test_a_scope_without_enough_readings_queues_nothing(
    make_series: Callable[..., dict[str, Any]], writer: httpx.Client, admin: httpx.Client
) -> None:
    empty = make_series(name=f"{PLANT}/l1/empty", plant=PLANT, line="l1", frequency="h")
    upload_line(writer, empty["id"], line_frame(days=1, seed=0))
    cases = [
        (admin.post("/v1/global-models", json={**GLOBAL, "plant": "nowhere"}), "no unarchived"),
        (admin.post("/v1/global-models", json=GLOBAL), "observations training needs"),
        (admin.post("/v1/global-models", json={"name": "all"}), "give a plant, a line or both"),
        (admin.post("/v1/global-models", json={**GLOBAL, "embedding": -1}), "embedding"),
    ]
    for response, words in cases:
        assert response.status_code == 422, response.text
        assert words in response.json()["detail"]
    assert admin.get("/v1/global-models").json() == {"items": []}
    for path in ("/v1/global-models/7", "/v1/global-runs/7"):
        answer = admin.get(path)
        assert answer.status_code == 404 and "7 not found" in answer.json()["detail"]


def test_training_is_for_admins_and_reading_for_every_key(
    writer: httpx.Client, reader: httpx.Client
) -> None:
    assert writer.post("/v1/global-models", json=GLOBAL).status_code == 403
    assert reader.post("/v1/global-models", json=GLOBAL).status_code == 403
    assert reader.get("/v1/global-models").status_code == 200
