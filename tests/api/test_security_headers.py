"""`nosniff` on every answer, `no-store` on all but the dashboard's static files, over HTTP."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.api.conftest import MAX_REQUEST_BYTES


def _assert_private(response: httpx.Response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff", response.request.url
    assert response.headers["Cache-Control"] == "no-store", response.request.url


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/nowhere"])
def test_answers_without_a_key_are_neither_sniffed_nor_stored(
    anon: httpx.Client, path: str
) -> None:
    _assert_private(anon.get(path))


def test_api_answers_and_errors_are_neither_sniffed_nor_stored(
    anon: httpx.Client, reader: httpx.Client, writer: httpx.Client, series_id: int
) -> None:
    answers = {
        200: reader.get(f"/v1/series/{series_id}"),
        401: anon.get("/v1/series"),
        403: reader.post("/v1/series", json={"name": "x", "frequency": "h"}),
        404: reader.get("/v1/series/2000000000"),
        413: writer.post(
            "/v1/series",
            content=b"{" + b" " * MAX_REQUEST_BYTES + b"}",
            headers={"Content-Type": "application/json"},
        ),
        422: writer.post("/v1/series", json={"name": ""}),
    }
    for status, response in answers.items():
        assert response.status_code == status, response.text
        _assert_private(response)


def test_a_500_is_neither_sniffed_nor_stored(
    reader: httpx.Client, series_id: int, db_engine: Engine
) -> None:
    # A real failure, as in test_main: the table the handler reads is gone.
    with db_engine.begin() as connection:
        connection.execute(text("DROP TABLE observations CASCADE"))
    response = reader.get(f"/v1/series/{series_id}/observations")
    assert response.status_code == 500
    _assert_private(response)


def test_dashboard_pages_are_private_and_its_stylesheet_cacheable(
    anon: httpx.Client, reader: httpx.Client
) -> None:
    _assert_private(reader.get("/dashboard"))
    _assert_private(anon.get("/dashboard/login"))
    stylesheet = anon.get("/dashboard/static/dashboard.css")
    assert stylesheet.status_code == 200
    assert stylesheet.headers["X-Content-Type-Options"] == "nosniff"
    assert "Cache-Control" not in stylesheet.headers
    assert "ETag" in stylesheet.headers  # browsers revalidate it cheaply
