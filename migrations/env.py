"""Alembic's entry point: migrate one database, with the models as the target schema.

The URL is the config's `sqlalchemy.url` when set (`app.db.migrate` sets it), else the
service's own `LINECAST_DATABASE_URL`, so plain `alembic upgrade head` migrates the database
the service will use.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from app.db.engine import make_engine
from app.db.models import Base
from app.settings import get_settings, normalise_database_url

config = context.config
if config.config_file_name is not None:
    # Only the `alembic` command has an ini file; called from the app, its logging stays as is.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    return normalise_database_url(
        config.get_main_option("sqlalchemy.url") or get_settings().database_url
    )


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    url = _database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_database_url())
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # Batch mode rebuilds a SQLite table by copy, drop and rename; with foreign keys
                # on, dropping `series` would cascade-delete every observation. The pragma is a
                # no-op inside a transaction, so it goes first, on its own.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                _check_foreign_keys(connection)
    finally:
        engine.dispose()


def _check_foreign_keys(connection: Connection) -> None:
    # With enforcement off during the migration, say so if it left a reference dangling.
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"migration left {len(broken)} broken foreign keys, first: {broken[0]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
