"""Run the Alembic migrations from Python, with no `alembic.ini` needed in the working directory.

The CLI, the tests and the service's start-up check call these; developers can still run plain
`alembic` from the repository root, which reads `alembic.ini` and the same `migrations/`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from app.db.engine import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """A config pointing at `migrations/`; with `url`, `env.py` migrates that database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # The config is a ConfigParser: a percent-encoded password must not read as %(name)s.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The database's revision; None for a database never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return revision_of(connection)
    finally:
        engine.dispose()


def revision_of(connection: Connection) -> str | None:
    """The revision of the database behind an open connection (a pooled one, for /readyz)."""
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision in `migrations/versions/`."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_at_head(url: str) -> bool:
    """Whether `url` has every migration applied, as a service should check before serving."""
    return current_revision(url) == head_revision()
