"""Analysis over HTTP: a constant or empty series is refused with the reason, storing nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import AnalysisReport
from app.settings import Settings
from tests.api.lines import line_settings


@pytest.fixture
def api_settings(migrated_url: str) -> Settings:
    return line_settings(migrated_url)


def test_constant_and_empty_series_are_refused(
    make_series: Callable[..., dict[str, Any]],
    writer: httpx.Client,
    db: sessionmaker[Session],
) -> None:
    flat = make_series(name="plant-e/line-1/stopped", frequency="h")["id"]
    items = [
        {"ts": f"2026-01-{d:02d}T{h:02d}:00:00Z", "value": 7.0}
        for d in (1, 2, 3)
        for h in range(24)
    ]
    writer.post(f"/v1/series/{flat}/observations", json={"items": items}).raise_for_status()
    empty = make_series(name="plant-e/line-2/new", frequency="h")["id"]
    constant = writer.post(f"/v1/series/{flat}/analysis", json={})
    assert constant.status_code == 422 and "constant" in constant.json()["detail"]
    nothing = writer.post(f"/v1/series/{empty}/analysis", json={})
    assert nothing.status_code == 422 and "no observations" in nothing.json()["detail"]
    window = writer.post(
        f"/v1/series/{flat}/analysis",
        json={"start": "2026-01-02T00:00:00Z", "end": "2026-01-02T05:00:00Z"},
    )
    assert window.status_code == 422 and "readings" in window.json()["detail"]
    # A naive bound once reached the database as a comparison and answered 500 (issue 10).
    naive = writer.post(f"/v1/series/{flat}/analysis", json={"start": "2026-01-02T00:00:00"})
    assert naive.status_code == 422 and "has no timezone" in naive.json()["detail"]
    with db() as session:
        assert session.scalar(select(func.count()).select_from(AnalysisReport)) == 0
