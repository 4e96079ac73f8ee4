"""The services' database fixtures, plus settings read from a clean environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from app.settings import get_settings
from tests.services.conftest import (  # noqa: F401 (fixtures)
    database_url,
    engine,
    line,
    sessions,
    settings,
    tiny_artifact,
    tiny_artifacts,
)


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No LINECAST_* variable of the developer's shell, and no settings cached across tests."""
    for name in os.environ:
        if name.startswith("LINECAST_") and name != "LINECAST_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
