"""Settings: read from LINECAST_* variables, with unsafe defaults refused in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings, get_settings, normalise_database_url

POSTGRES = "postgresql+psycopg://linecast@db.internal:5432/linecast"


def test_development_defaults_need_no_setup() -> None:
    settings = Settings()
    assert settings.environment == "development"
    assert settings.data_dir == Path("var")
    assert settings.database_url == "sqlite:///var/linecast.db"
    assert settings.max_ingest_rows == 100_000
    assert settings.max_request_bytes == 20 * 1024 * 1024
    assert settings.retrain_margin == 0.02
    assert (settings.heartbeat_seconds, settings.stale_after_seconds) == (10.0, 60.0)
    assert settings.worker_poll_seconds == 1.0
    assert settings.in_process_jobs is True
    assert (settings.default_horizon, settings.default_context) == (24, None)


def test_the_default_database_lives_in_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECAST_DATA_DIR", "/srv/linecast")
    assert Settings().database_url == "sqlite:////srv/linecast/linecast.db"


def test_environment_variables_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECAST_MAX_INGEST_ROWS", "500")
    monkeypatch.setenv("LINECAST_IN_PROCESS_JOBS", "false")
    monkeypatch.setenv("LINECAST_LOG_LEVEL", "DEBUG")
    settings = get_settings()
    assert (settings.max_ingest_rows, settings.in_process_jobs, settings.log_level) == (
        500,
        False,
        "DEBUG",
    )
    monkeypatch.setenv("LINECAST_MAX_INGEST_ROWS", "7")
    assert get_settings() is settings
    get_settings.cache_clear()
    assert get_settings().max_ingest_rows == 7


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///var/x.db", "sqlite:///var/x.db"),
    ],
)
def test_postgres_urls_are_pointed_at_psycopg(
    given: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert normalise_database_url(given) == expected
    monkeypatch.setenv("LINECAST_DATABASE_URL", given)
    assert Settings().database_url == expected


def test_production_refuses_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECAST_ENVIRONMENT", "production")
    monkeypatch.setenv("LINECAST_DATA_DIR", "/srv/linecast")
    with pytest.raises(ValueError, match="LINECAST_DATABASE_URL must point at PostgreSQL"):
        Settings()
    monkeypatch.setenv("LINECAST_DATABASE_URL", "sqlite:////srv/linecast/x.db")
    with pytest.raises(ValueError, match="LINECAST_DATABASE_URL must point at PostgreSQL"):
        Settings()


def test_production_refuses_the_default_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECAST_ENVIRONMENT", "production")
    monkeypatch.setenv("LINECAST_DATABASE_URL", POSTGRES)
    with pytest.raises(ValueError, match="LINECAST_DATA_DIR must be set in production"):
        Settings()


def test_production_accepts_postgres_and_a_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECAST_ENVIRONMENT", "production")
    monkeypatch.setenv("LINECAST_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("LINECAST_DATA_DIR", "/srv/linecast")
    settings = Settings()
    assert (settings.database_url, settings.data_dir) == (POSTGRES, Path("/srv/linecast"))


def test_an_empty_data_dir_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECAST_DATA_DIR", " ")
    with pytest.raises(ValueError, match="LINECAST_DATA_DIR is empty"):
        Settings()


def test_runs_are_not_declared_dead_between_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECAST_HEARTBEAT_SECONDS", "30")
    monkeypatch.setenv("LINECAST_STALE_AFTER_SECONDS", "30")
    with pytest.raises(ValueError, match="must exceed LINECAST_HEARTBEAT_SECONDS"):
        Settings()
