"""The services' session factory and worker settings; the rest is the suite's (tests/fixtures/)."""

from __future__ import annotations

from tests.services.conftest import (  # noqa: F401 (fixtures)
    any_sessions,
    sessions,
    settings,
    sqlite_sessions,
)
