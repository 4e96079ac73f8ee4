"""Settings from a clean environment for every test; the suite's shared fixtures and markers.

The fixtures that several directories use live in `tests/fixtures/`: databases (an empty or a
migrated PostgreSQL database per test), the simulated plant and its tiny models, and the
served API with its keys and clients. Markers: see the README's testing section.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

# Under pytest-xdist (`make test` runs two workers), one thread per worker for torch and the
# BLAS behind numpy: their default of one thread per core ran two workers on four spinning
# threads over two cores (a 0.4 s stationarity test took 6.5 s). Set before either loads.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")
    assert "numpy" not in sys.modules, "numpy was loaded before its thread count was set"

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
