"""The real service, served by uvicorn on a loopback port, on a real, migrated PostgreSQL.

Tests speak HTTP to it through `httpx` clients holding a key of each role (`reader`, `writer`,
`admin`) or none (`anon`). The server runs in a thread of the test process on a socket bound
before it starts, so the first request simply waits in the socket's backlog until the server
accepts it: no polling, no sleeps.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from app.api.main import create_app
from app.db.engine import make_engine, session_factory
from app.db.migrate import upgrade
from app.db.models import Observation, Series
from app.logging import JSON_HANDLER_NAME
from app.services.keys import create_api_key, revoke_api_key
from app.settings import Settings

# Small limits, so the tests of them send kilobytes, not megabytes.
MAX_INGEST_ROWS = 50
MAX_REQUEST_BYTES = 16_384

Snapshot = dict[str, list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Keys:
    """Plaintext keys of each role, and one that was revoked (it had role admin)."""

    read: str
    write: str
    admin: str
    revoked: str


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo `create_app`'s logging set-up, so no JSON handler outlives the test that made it."""
    root, alembic = logging.getLogger(), logging.getLogger("alembic.runtime.migration")
    levels = root.level, alembic.level
    yield
    # Only the service's handler: pytest adds and removes its own around each test phase.
    for handler in list(root.handlers):
        if handler.get_name() == JSON_HANDLER_NAME:
            root.removeHandler(handler)
    root.setLevel(levels[0])
    alembic.setLevel(levels[1])


@pytest.fixture
def migrated_url(postgres_url: str) -> str:
    upgrade(postgres_url)
    return postgres_url


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return Settings(
        database_url=migrated_url,
        max_ingest_rows=MAX_INGEST_ROWS,
        max_request_bytes=MAX_REQUEST_BYTES,
    )


@pytest.fixture
def db_engine(migrated_url: str) -> Iterator[Engine]:
    """An engine of the tests' own, to arrange rows and to look at what the service stored."""
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(db_engine: Engine) -> sessionmaker[Session]:
    return session_factory(db_engine)


@pytest.fixture
def keys(db: sessionmaker[Session]) -> Keys:
    with db() as session:
        plaintext = {
            role: create_api_key(session=session, name=f"test-{role}", role=role)[1]
            for role in ("read", "write", "admin")
        }
        _, revoked = create_api_key(session=session, name="test-revoked", role="admin")
        revoke_api_key(session=session, name="test-revoked")
    return Keys(revoked=revoked, **plaintext)


@pytest.fixture
def app(api_settings: Settings) -> FastAPI:
    return create_app(api_settings)


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    with serving(app) as url:
        yield url


@pytest.fixture
def anon(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
def reader(base_url: str, keys: Keys) -> Iterator[httpx.Client]:
    with authorised(base_url, keys.read) as client:
        yield client


@pytest.fixture
def writer(base_url: str, keys: Keys) -> Iterator[httpx.Client]:
    with authorised(base_url, keys.write) as client:
        yield client


@pytest.fixture
def admin(base_url: str, keys: Keys) -> Iterator[httpx.Client]:
    with authorised(base_url, keys.admin) as client:
        yield client


@pytest.fixture
def snapshot(db: sessionmaker[Session]) -> Callable[[], Snapshot]:
    """Every stored series and observation, column by column, to compare before and after."""

    def take() -> Snapshot:
        with db() as session:
            return {
                "series": _rows(session, Series, Series.id),
                "observations": _rows(session, Observation, Observation.series_id, Observation.ts),
            }

    return take


@pytest.fixture
def make_series(writer: httpx.Client) -> Callable[..., dict[str, Any]]:
    """Create a series through the API with `fields`; return its JSON."""

    def make(**fields: Any) -> dict[str, Any]:
        response = writer.post("/v1/series", json=fields)
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def series_id(make_series: Callable[..., dict[str, Any]]) -> int:
    """A fresh hourly series."""
    return make_series(name="plant-a/line-1/throughput", frequency="h")["id"]


@pytest.fixture
def serve() -> Callable[[FastAPI], AbstractContextManager[str]]:
    """`with serve(app) as base_url:` runs another app, e.g. one on a database left empty."""
    return serving


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn in a thread; yield its base URL once it answers `/healthz`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    # Listening before the server starts: early connections queue instead of being refused.
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        httpx.get(f"{url}/healthz", timeout=30).raise_for_status()
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"


@contextmanager
def authorised(base_url: str, key: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        yield client


def _rows(session: Session, model: type[Any], *order: Any) -> list[tuple[Any, ...]]:
    columns = [getattr(model, column.key) for column in model.__table__.columns]
    return [tuple(row) for row in session.execute(select(*columns).order_by(*order))]
