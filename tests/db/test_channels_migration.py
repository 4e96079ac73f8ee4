"""Migration 0010 (channels) on data: existing series get no channels, channel values cascade
with their series, and the dashboard views survive the upgrade and the downgrade, on
PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy import inspect, text

from app.db.engine import make_engine
from app.db.migrate import downgrade, upgrade

VIEWS = ("v_series_health", "v_forecast_vs_actual", "v_latest_drift")


def test_0010_adds_channels_and_undoes_cleanly(empty_url: str) -> None:
    upgrade(empty_url, "0009")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO series (id, name, attributes) VALUES (1, 'p1/l1', '{}')")
            )
        engine.dispose()

        upgrade(empty_url, "0010")
        with engine.begin() as connection:
            channels = connection.execute(text("SELECT channels FROM series")).scalar_one()
            assert channels in ([], "[]")
            connection.execute(
                text(
                    "INSERT INTO channel_values (series_id, ts, covariates) "
                    "VALUES (1, '2026-01-05 00:00:00+00:00', '{\"setpoint\": 1.5}')"
                )
            )
            for view in VIEWS:
                connection.execute(text(f"SELECT * FROM {view}")).all()
            if engine.dialect.name == "sqlite":
                connection.execute(text("PRAGMA foreign_keys = ON"))
            connection.execute(text("DELETE FROM series"))
            assert connection.execute(text("SELECT COUNT(*) FROM channel_values")).scalar() == 0
        engine.dispose()

        downgrade(empty_url, "0009")
        schema = inspect(engine)
        assert "channel_values" not in schema.get_table_names()
        assert "channels" not in {c["name"] for c in schema.get_columns("series")}
        with engine.connect() as connection:
            for view in VIEWS:
                connection.execute(text(f"SELECT * FROM {view}")).all()
    finally:
        engine.dispose()
