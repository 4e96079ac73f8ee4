"""Settings from a clean environment for every test; the suite's shared fixtures and markers.

The fixtures that several directories use live in `tests/fixtures/`: databases (an empty or a
migrated PostgreSQL database per test), the simulated plant and its tiny models, and the
served API with its keys and clients. Markers: see the README's testing section.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from app.settings import get_settings

pytest_plugins = ["tests.fixtures.databases", "tests.fixtures.plant", "tests.fixtures.service"]

# Fixtures that reach the PostgreSQL server, and the one that drives a browser: a test that uses
# one, directly or through another fixture, gets the marker, so no test has to remember it.
MARKED_BY_FIXTURE = {"postgres_server": "postgres", "browser": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in MARKED_BY_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No LINECAST_* variable of the developer's shell, and no settings cached across tests."""
    for name in os.environ:
        if name.startswith("LINECAST_") and name != "LINECAST_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
