"""The services' database fixtures, plus settings read from a clean environment."""

from __future__ import annotations

from tests.services.conftest import (  # noqa: F401 (fixtures)
    database_url,
    engine,
    line,
    sessions,
    settings,
    tiny_artifact,
    tiny_artifacts,
)
