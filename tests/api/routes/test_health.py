"""`/healthz` and `/readyz` on migrated, empty and unreachable databases; `linecast serve`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest
from fastapi import FastAPI

from app.api.main import create_app
from app.cli import main
from app.settings import Settings

Serve = Callable[[FastAPI], AbstractContextManager[str]]


def test_both_probes_pass_on_a_migrated_database(anon: httpx.Client) -> None:
    assert anon.get("/healthz").json() == {"status": "ok"}
    assert anon.get("/readyz").json() == {"status": "ready"}


def test_readyz_fails_on_an_empty_database_and_says_to_migrate(
    postgres_url: str, serve: Serve
) -> None:
    with serve(create_app(Settings(database_url=postgres_url))) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        response = httpx.get(f"{url}/readyz")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "at no revision" in detail
    assert "run `linecast migrate`" in detail


def test_readyz_fails_when_the_database_is_unreachable(serve: Serve) -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    with serve(create_app(settings)) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        response = httpx.get(f"{url}/readyz")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("database unreachable: connection failed")


def test_every_route_answers_503_with_retry_after_while_the_database_is_down(
    serve: Serve,
) -> None:
    """They answered 500 "internal server error" (issue 10): the key check is the first thing
    to reach the database, so every authenticated route is covered by these three."""
    settings = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    headers = {"Authorization": f"Bearer lc_{'a' * 12}_{'b' * 43}"}  # well-formed, unknown
    with serve(create_app(settings)) as url:
        answers = [
            httpx.get(f"{url}/v1/series", headers=headers),
            httpx.post(f"{url}/v1/series/1/forecast", json={}, headers=headers),
            httpx.get(f"{url}/dashboard", headers=headers),
        ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "5"
        assert answer.json()["detail"].startswith("the database is unavailable")


def test_readyz_borrows_from_the_pool_instead_of_opening_engines(
    migrated_url: str, serve: Serve
) -> None:
    app = create_app(Settings(database_url=migrated_url))
    with serve(app) as url:
        for _ in range(5):
            assert httpx.get(f"{url}/readyz").status_code == 200
        pool = app.state.engine.pool
        assert pool.checkedout() == 0 and pool.checkedin() == 1


def test_serve_refuses_an_unmigrated_database(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LINECAST_DATABASE_URL", postgres_url)
    assert main(["serve", "--port", "8765"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("linecast serve: error: ")
    assert "is at no revision" in error
    assert error.endswith("run `linecast migrate` first\n")
    assert error.count("\n") == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--port", "0"], "--port must be 1 to 65535"), (["--workers", "0"], "--workers must be")],
)
def test_serve_refuses_bad_options(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *arguments]) == 2
    assert message in capsys.readouterr().err
