"""The API's tests: the shared served service (tests/fixtures/service.py) with small request
limits, a snapshot of what is stored, and series made through the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import ChannelValues, Observation, Series
from app.settings import Settings

# Small limits, so the tests of them send kilobytes, not megabytes.
MAX_INGEST_ROWS = 50
MAX_REQUEST_BYTES = 16_384

Snapshot = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return Settings(
        database_url=migrated_url,
        max_ingest_rows=MAX_INGEST_ROWS,
        max_request_bytes=MAX_REQUEST_BYTES,
    )


@pytest.fixture
def snapshot(db: sessionmaker[Session]) -> Callable[[], Snapshot]:
    """Every stored series, observation and channel value, column by column, to compare
    before and after."""

    def take() -> Snapshot:
        with db() as session:
            return {
                "series": _rows(session, Series, Series.id),
                "observations": _rows(session, Observation, Observation.series_id, Observation.ts),
                "channel_values": _rows(
                    session, ChannelValues, ChannelValues.series_id, ChannelValues.ts
                ),
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


def _rows(session: Session, model: type[Any], *order: Any) -> list[tuple[Any, ...]]:
    columns = [getattr(model, column.key) for column in model.__table__.columns]
    return [tuple(row) for row in session.execute(select(*columns).order_by(*order))]
