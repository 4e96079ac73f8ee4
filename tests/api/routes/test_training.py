"""Training endpoints over HTTP: queuing, retraining, runs, refusals, and who may call what."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import TrainingRun
from app.settings import Settings
from tests.api.lines import TINY, line_frame, line_settings, train, upload_line
from tests.fixtures.service import Keys


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


@pytest.fixture
def line_series(make_series: Callable[..., dict[str, Any]], writer: httpx.Client) -> int:
    series_id = make_series(name="plant-c/line-1/current", frequency="h")["id"]
    upload_line(writer, series_id, line_frame(days=20, seed=3))
    return series_id


def _runs(db: sessionmaker[Session]) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(TrainingRun)) or 0


def test_retrain_queues_every_trainable_series_and_records_the_trigger(
    line_series: int,
    make_series: Callable[..., dict[str, Any]],
    writer: httpx.Client,
    admin: httpx.Client,
) -> None:
    assert train(writer, line_series)["status"] == "succeeded"
    empty = make_series(name="plant-c/line-2/empty", frequency="h")["id"]  # skipped, no error
    answer = admin.post("/v1/retrain", json={"warm_start": True})
    assert answer.status_code == 202, answer.text
    queued = answer.json()
    assert (queued["queued"], queued["already_open"]) == (1, 0)
    [entry] = queued["runs"]
    assert (entry["series_id"], entry["status"], entry["created"]) == (line_series, "queued", True)
    [skipped] = queued["skipped"]
    assert skipped["series_id"] == empty and "has 0 observations" in skipped["reason"]
    run = admin.get(f"/v1/training-runs/{entry['run_id']}").json()
    assert run["trigger"] == "retrain" and run["warm_start"] is True
    assert run["config"]["hidden"] == TINY["hidden"]  # the active version's options
    assert run["requested_by"] == "test-admin"


def test_bad_training_requests_are_refused_and_queue_nothing(
    line_series: int,
    make_series: Callable[..., dict[str, Any]],
    writer: httpx.Client,
    admin: httpx.Client,
    db: sessionmaker[Session],
) -> None:
    empty = make_series(name="plant-c/line-3/empty", frequency="h")["id"]
    cases = [
        (writer.post(f"/v1/series/{empty}/train", json=TINY), 422, "needs at least"),
        (writer.post(f"/v1/series/{line_series}/train", json={"mode": "magic"}), 422, "magic"),
        (writer.post(f"/v1/series/{line_series}/train", json={"epochs": 0}), 422, "epochs"),
        (writer.post(f"/v1/series/{line_series}/train", json={"colour": 1}), 422, "colour"),
        # A seed past 2**32 queued a run that could only fail (issue 10).
        (writer.post(f"/v1/series/{line_series}/train", json={"seed": 2**70}), 422, "seed"),
        (writer.post(f"/v1/series/{line_series}/train", json={"candidates": []}), 422, "cand"),
        (admin.post("/v1/retrain", json={"series_ids": [2**63]}), 422, "series_ids"),
        # Found by schemathesis: 0 was read as false.
        (admin.post("/v1/retrain", json={"warm_start": 0}), 422, "warm_start"),
        (writer.post(f"/v1/series/{line_series}/train", json={"warm_start": 1}), 422, "warm"),
        (writer.get("/v1/training-runs/2147483648"), 422, "run_id"),
        (writer.post("/v1/series/424242/train", json=TINY), 404, "series 424242 not found"),
        (admin.post("/v1/retrain", json={"series_ids": [line_series, 424242]}), 404, "424242"),
        (admin.post("/v1/retrain", json={"series_ids": [line_series, empty]}), 422, "needs"),
        (writer.get("/v1/training-runs/99"), 404, "training run 99 not found"),
    ]
    for response, code, words in cases:
        assert response.status_code == code, response.text
        assert words in response.json()["detail"]
    assert _runs(db) == 0


def test_archived_series_are_not_trained(
    line_series: int, writer: httpx.Client, admin: httpx.Client, db: sessionmaker[Session]
) -> None:
    admin.post(f"/v1/series/{line_series}/archive").raise_for_status()
    answer = writer.post(f"/v1/series/{line_series}/train", json=TINY)
    assert answer.status_code == 409 and "archived" in answer.json()["detail"]
    nothing = {"queued": 0, "already_open": 0, "runs": [], "skipped": []}
    assert admin.post("/v1/retrain", json={}).json() == nothing
    assert _runs(db) == 0


def test_runs_of_a_series_are_listed_newest_first(line_series: int, writer: httpx.Client) -> None:
    first = train(writer, line_series)
    second = train(writer, line_series, seed=1)
    listed = writer.get(f"/v1/series/{line_series}/training-runs").json()
    assert [r["id"] for r in listed] == [second["id"], first["id"]]


# (method, path template, body, least role); {s} is a series, {v} a version, {r} a run.
ENDPOINTS = [
    ("post", "/v1/series/{s}/train", TINY, "write"),
    ("post", "/v1/retrain", {"series_ids": []}, "admin"),
    ("get", "/v1/training-runs/{r}", None, "read"),
    ("get", "/v1/series/{s}/training-runs", None, "read"),
    ("get", "/v1/series/{s}/models", None, "read"),
    ("post", "/v1/series/{s}/models/{v}/promote", {}, "admin"),
    ("post", "/v1/series/{s}/models/{v}/retire", None, "admin"),
    ("post", "/v1/series/{s}/forecast", {}, "read"),
    ("post", "/v1/series/{s}/analysis", {}, "write"),
    ("get", "/v1/series/{s}/analysis", None, "read"),
]
ROLES = ("read", "write", "admin")


@pytest.mark.parametrize(("method", "template", "body", "least"), ENDPOINTS)
def test_auth_matrix(
    method: str,
    template: str,
    body: dict[str, Any] | None,
    least: str,
    line_series: int,
    writer: httpx.Client,
    base_url: str,
    keys: Keys,
) -> None:
    run = train(writer, line_series)
    path = template.format(s=line_series, v=run["model_version_id"], r=run["id"])
    kwargs = {"json": body} if body is not None else {}
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for key, expected in ((None, 401), ("lc_bogus_key", 401), (keys.revoked, 401)):
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            answer = client.request(method, path, headers=headers, **kwargs)
            assert answer.status_code == expected, (key, answer.text)
        for role in ROLES:
            headers = {"Authorization": f"Bearer {getattr(keys, role)}"}
            answer = client.request(method, path, headers=headers, **kwargs)
            allowed = ROLES.index(role) >= ROLES.index(least)
            if allowed:
                assert answer.status_code not in (401, 403), (role, answer.text)
            else:
                assert answer.status_code == 403, (role, answer.text)
                assert f"role {least} or higher" in answer.json()["detail"]
