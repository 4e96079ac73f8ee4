"""App-wide behaviour of `create_app`: request ids, error bodies, logs, 500s, shutdown hooks."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, event, text

from app.api.main import create_app
from app.logging import json_handler
from app.settings import Settings
from tests.fixtures.service import Keys

Serve = Callable[[FastAPI], AbstractContextManager[str]]
HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines logged while the test runs, as the service's handler writes them."""
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


@pytest.mark.parametrize("given", ["trace-42", "A.b_c-9", "x" * 64])
def test_a_sane_request_id_is_echoed(given: str, anon: httpx.Client) -> None:
    response = anon.get("/healthz", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] == given


@pytest.mark.parametrize("given", ["", "has space", "x" * 65, "semi;colon", "new\\nline"])
def test_an_insane_request_id_is_replaced(given: str, anon: httpx.Client) -> None:
    response = anon.get("/healthz", headers={"X-Request-ID": given})
    assert HEX_ID.fullmatch(response.headers["X-Request-ID"])


def test_every_error_body_has_detail_and_the_request_id(anon: httpx.Client, keys: Keys) -> None:
    auth = {"Authorization": f"Bearer {keys.read}"}
    responses = [
        anon.get("/v1/series"),  # 401
        anon.post("/v1/series", headers=auth, json={"name": "x"}),  # 403
        anon.get("/v1/series/5", headers=auth),  # 404 from the dependency
        anon.get("/nowhere"),  # 404 from routing
        anon.delete("/v1/series", headers=auth),  # 405
        anon.get("/v1/series", params={"limit": "many"}, headers=auth),  # 422
    ]
    assert [response.status_code for response in responses] == [401, 403, 404, 404, 405, 422]
    for response in responses:
        body = response.json()
        assert set(body) == {"detail", "request_id"}
        assert body["request_id"] == response.headers["X-Request-ID"]
        assert body["detail"]


def test_access_lines_carry_the_request_id_and_never_a_secret(
    anon: httpx.Client, keys: Keys, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    response = anon.get(
        "/v1/series",
        params={"token": "query-secret"},
        headers={"Authorization": f"Bearer {keys.read}", "X-Request-ID": "trace-7"},
    )
    assert response.status_code == 200
    anon.get("/v1/series/1", headers={"Authorization": f"Bearer {keys.write}x"})

    lines = log_lines()
    access = [line for line in lines if line["logger"] == "linecast.access"]
    assert access[0] == {
        "time": access[0]["time"],
        "level": "INFO",
        "logger": "linecast.access",
        "message": "GET /v1/series 200",
        "request_id": "trace-7",
        "method": "GET",
        "path": "/v1/series",
        "status": 200,
        "duration_ms": access[0]["duration_ms"],
    }
    assert access[0]["duration_ms"] >= 0
    assert access[1]["path"] == "/v1/series/{series_id}"
    assert access[1]["status"] == 401
    # The server's lines: httpx, the client in this same process, logs its URLs with queries.
    logged = "\n".join(json.dumps(line) for line in lines if line["logger"] != "httpx")
    for secret in ("query-secret", keys.read, keys.write, "Bearer"):
        assert secret not in logged


def test_an_unexpected_failure_is_a_json_500_and_a_logged_traceback(
    reader: httpx.Client,
    series_id: int,
    db_engine: Engine,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    # A real failure, not a stub: the table the handler reads is gone.
    with db_engine.begin() as connection:
        connection.execute(text("DROP TABLE observations CASCADE"))
    response = reader.get(
        f"/v1/series/{series_id}/observations", headers={"X-Request-ID": "trace-500"}
    )
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error", "request_id": "trace-500"}

    errors = [line for line in log_lines() if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "trace-500"
    assert errors[0]["message"] == ("unhandled error in GET /v1/series/{series_id}/observations")
    assert 'relation "observations" does not exist' in errors[0]["exception"]
    # The server keeps serving.
    assert reader.get(f"/v1/series/{series_id}").status_code == 200


def test_shutdown_runs_the_hooks_last_first_then_closes_the_engine(
    api_settings: Settings, serve: Serve, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    app = create_app(api_settings)
    calls: list[str] = []
    event.listen(app.state.engine, "engine_disposed", lambda _engine: calls.append("engine"))

    def failing() -> None:
        raise RuntimeError("executor would not stop")

    app.state.on_shutdown.append(lambda: calls.append("first"))
    app.state.on_shutdown.append(failing)
    app.state.on_shutdown.append(lambda: calls.append("last"))
    with serve(app) as url:
        assert httpx.get(f"{url}/readyz").status_code == 200
        assert calls == []
    assert calls == ["last", "first", "engine"]
    failures = [line for line in log_lines() if line["level"] == "ERROR"]
    assert "executor would not stop" in failures[0]["exception"]


def test_openapi_describes_the_service(anon: httpx.Client) -> None:
    schema = anon.get("/openapi.json").json()
    assert schema["info"]["title"] == "linecast"
    assert schema["info"]["version"]
    assert schema["components"]["schemas"]["SeriesCreate"]["examples"][0]["frequency"] == "h"
    assert "/v1/series/{series_id}/observations/csv" in schema["paths"]
    assert anon.get("/docs").status_code == 200
