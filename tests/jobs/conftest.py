"""The services' session factory and worker settings; the rest is the suite's (tests/fixtures/)."""

from __future__ import annotations

from tests.services.conftest import sessions, settings  # noqa: F401 (fixtures)
