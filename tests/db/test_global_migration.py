"""Migration 0009 (global models) on data: stored versions and the dashboard views survive the
upgrade and the downgrade, and the new constraints hold, on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from app.db.engine import make_engine
from app.db.migrate import downgrade, upgrade

VIEWS = ("v_series_health", "v_forecast_vs_actual", "v_latest_drift")
VERSION = (
    "INSERT INTO model_versions (series_id, version, status, training_mode, config, "
    "preprocessing, metrics, artifact, artifact_sha256{extra}) VALUES (1, {number}, '{status}', "
    "'dsf', '{{}}', '{{}}', '{{}}', :artifact, '{sha}'{value})"
)


def _version(engine: Engine, number: int, status: str, global_model_id: int | None = None) -> None:
    extra, value = (", global_model_id", f", {global_model_id}") if global_model_id else ("", "")
    statement = VERSION.format(extra=extra, number=number, status=status, sha="a" * 64, value=value)
    with engine.begin() as connection:
        connection.execute(text(statement), {"artifact": b"weights"})


def _read_views(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as connection:
        return {
            view: list(connection.execute(text(f"SELECT * FROM {view}")).keys()) for view in VIEWS
        }


def test_0009_keeps_versions_and_views_and_undoes_cleanly(empty_url: str) -> None:
    upgrade(empty_url, "0008")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO series (id, name, attributes) VALUES (1, 'p1/l1', '{}')")
            )
        _version(engine, 1, "active")
        views_before = _read_views(engine)
        engine.dispose()

        upgrade(empty_url, "0009")
        schema = inspect(engine)
        assert {"global_models", "global_runs"} <= set(schema.get_table_names())
        references = {
            (fk["constrained_columns"][0], fk["referred_table"])
            for fk in schema.get_foreign_keys("model_versions")
        }
        assert ("global_model_id", "global_models") in references
        assert _read_views(engine) == views_before
        with engine.begin() as connection:
            assert connection.execute(
                text("SELECT global_model_id FROM model_versions")
            ).scalars().all() == [None]
            for number in (1, 2):
                connection.execute(
                    text(
                        "INSERT INTO global_models (name, version, status, selector, config, "
                        "metrics, artifact, artifact_sha256) VALUES ('p1', :number, 'retired', "
                        "'{}', '{}', '{}', :artifact, :sha)"
                    ),
                    {"number": number, "artifact": b"net", "sha": "b" * 64},
                )
            connection.execute(text("UPDATE global_models SET status = 'active' WHERE version = 2"))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            # One active version per name.
            connection.execute(text("UPDATE global_models SET status = 'active'"))
        _version(engine, 2, "rejected", global_model_id=1)
        engine.dispose()

        downgrade(empty_url, "0008")
        schema = inspect(engine)
        assert not {"global_models", "global_runs"} & set(schema.get_table_names())
        assert "global_model_id" not in {c["name"] for c in schema.get_columns("model_versions")}
        assert _read_views(engine) == views_before
        with engine.connect() as connection:
            statuses = connection.execute(
                text("SELECT status FROM model_versions ORDER BY version")
            )
            assert statuses.scalars().all() == ["active", "rejected"]
        _version(engine, 3, "retired")  # the partial index allows it ...
        with pytest.raises(IntegrityError):
            _version(engine, 4, "active")  # ... and still holds one active version a series
        engine.dispose()

        upgrade(empty_url)
    finally:
        engine.dispose()
