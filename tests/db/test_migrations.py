"""The migrations build exactly the models' schema, and can be undone and redone."""

from __future__ import annotations

import io

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from app.db import migrate
from app.db.engine import make_engine
from app.db.models import Base

TABLES = {
    "series",
    "observations",
    "model_versions",
    "training_runs",
    "predictions",
    "analysis_reports",
    "api_keys",
    "drift_metrics",
    "drift_jobs",
    "global_models",
    "global_runs",
    "channel_values",
}


def _chain() -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_models_declare_exactly_the_expected_tables() -> None:
    assert set(Base.metadata.tables) == TABLES


def test_the_revisions_form_one_numbered_chain() -> None:
    chain = _chain()
    assert chain == [f"{number:04d}" for number in range(1, len(chain) + 1)]
    assert migrate.head_revision() == chain[-1]


@pytest.mark.slow
def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    url = empty_url
    head = migrate.head_revision()
    assert migrate.current_revision(url) is None
    assert not migrate.is_at_head(url)

    migrate.upgrade(url)
    assert _tables(url) == TABLES | {"alembic_version"}
    assert migrate.current_revision(url) == head
    assert migrate.is_at_head(url)

    # Each revision undone and redone on its own, newest first: a downgrade that leaves
    # something behind makes the upgrade after it fail.
    chain = _chain()
    for revision, previous in reversed(list(zip(chain[1:], chain[:-1], strict=True))):
        migrate.downgrade(url, previous)
        assert migrate.current_revision(url) == previous
        migrate.upgrade(url, revision)
        migrate.downgrade(url, previous)
    assert migrate.current_revision(url) == chain[0]

    migrate.downgrade(url, "base")
    assert _tables(url) == {"alembic_version"}
    assert migrate.current_revision(url) is None
    assert not migrate.is_at_head(url)

    migrate.upgrade(url)
    assert _tables(url) == TABLES | {"alembic_version"}
    assert migrate.is_at_head(url)


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_both_references_of_the_run_version_cycle_exist(engine: Engine) -> None:
    # The second reference is added after both tables exist; a slip would lose it silently.
    references = {
        (table, fk["constrained_columns"][0], fk["referred_table"])
        for table in ("training_runs", "model_versions")
        for fk in inspect(engine).get_foreign_keys(table)
    }
    assert ("training_runs", "model_version_id", "model_versions") in references
    assert ("model_versions", "training_run_id", "training_runs") in references


def test_offline_mode_prints_the_postgresql_ddl() -> None:
    # `alembic upgrade head --sql`: the SQL for a DBA, without a connection.
    buffer = io.StringIO()
    config = migrate.alembic_config("postgresql+psycopg://nobody@nowhere/none")
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)
    sql = buffer.getvalue()
    assert sql.count("CREATE TABLE") == len(TABLES) + 1  # and alembic_version
    assert "ALTER TABLE training_runs ADD CONSTRAINT fk_training_runs_model_version_id" in sql
    assert "WHERE status = 'active'" in sql
