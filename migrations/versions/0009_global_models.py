"""Global models: one network for the series of a scope, and series versions backed by one.

- `global_models`: versions of a named global model (one `active` per name, a partial unique
  index as for `model_versions`), with the scope they cover (`selector`), their artifact and
  its sha256, and what the member series' gates decided (`metrics`).
- `global_runs`: the queue of global trainings, a training run's columns for a scope (one
  queued or running run per name).
- `model_versions.global_model_id` (nullable): a series' version served by a global model.

A new table needs no change to the dashboard views of 0003, and a nullable column added at the
end of `model_versions` needs no rebuild on SQLite (SQLite accepts the reference inline). Taking
it away again does: SQLite will not drop a column that holds a reference, so the downgrade
rebuilds `model_versions` (batch mode) and, as 0005 does, drops the views first and creates
them again after, as they stand at 0008 (0003's, with 0005's `v_forecast_vs_actual`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
ACTIVE = sa.text("status = 'active'")
OPEN = sa.text("status IN ('queued', 'running')")
VERSION_STATUSES = "\"status\" IN ('candidate', 'active', 'retired', 'rejected')"
RUN_STATUSES = "\"status\" IN ('queued', 'running', 'succeeded', 'failed', 'rejected')"
RUN_TRIGGERS = "\"trigger\" IN ('api', 'retrain', 'cli')"
BACKING_FK = "fk_model_versions_global_model_id_global_models"
BACKING_INDEX = "ix_model_versions_global_model_id"


def upgrade() -> None:
    op.create_table(
        "global_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("selector", JSON, nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("artifact", sa.LargeBinary(), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("promoted_at", TIMESTAMP, nullable=True),
        sa.Column("retired_at", TIMESTAMP, nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(VERSION_STATUSES, name=op.f("ck_global_models_status_allowed")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_global_models_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_global_models")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_global_models_name_version")),
    )
    op.create_index(
        "ix_global_models_one_active",
        "global_models",
        ["name"],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )
    op.create_table(
        "global_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("progress", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("config", JSON, nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("global_model_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(RUN_STATUSES, name=op.f("ck_global_runs_status_allowed")),
        sa.CheckConstraint(RUN_TRIGGERS, name=op.f("ck_global_runs_trigger_allowed")),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 1", name=op.f("ck_global_runs_progress_fraction")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_global_runs_attempts_non_negative")),
        sa.ForeignKeyConstraint(
            ["global_model_id"],
            ["global_models.id"],
            name=op.f("fk_global_runs_global_model_id_global_models"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_global_runs")),
    )
    op.create_index(
        "ix_global_runs_one_open",
        "global_runs",
        ["name"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_global_runs_claim_order", "global_runs", ["status", "created_at"])
    if op.get_bind().dialect.name == "sqlite":
        # ALTER TABLE ... ADD COLUMN with the reference inline: no rebuild, the views stay.
        op.execute(
            f"ALTER TABLE model_versions ADD COLUMN global_model_id INTEGER "
            f"CONSTRAINT {BACKING_FK} REFERENCES global_models (id)"
        )
    else:
        op.add_column("model_versions", sa.Column("global_model_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            BACKING_FK, "model_versions", "global_models", ["global_model_id"], ["id"]
        )
    op.create_index(BACKING_INDEX, "model_versions", ["global_model_id"])


def downgrade() -> None:
    op.drop_index(BACKING_INDEX, table_name="model_versions")
    if op.get_bind().dialect.name == "sqlite":
        views = _migration("0003_dashboard_views.py")
        views.downgrade()
        with op.batch_alter_table("model_versions", recreate="always") as batch:
            batch.drop_column("global_model_id")
        keys = _migration("0005_key_lifecycle.py")
        for name, create in views.VIEWS:
            op.execute(keys.FORECAST_VS_ACTUAL if name == "v_forecast_vs_actual" else create)
    else:
        op.drop_constraint(BACKING_FK, "model_versions", type_="foreignkey")
        op.drop_column("model_versions", "global_model_id")
    op.drop_index("ix_global_runs_claim_order", table_name="global_runs")
    op.drop_index("ix_global_runs_one_open", table_name="global_runs")
    op.drop_table("global_runs")
    op.drop_index("ix_global_models_one_active", table_name="global_models")
    op.drop_table("global_models")


def _migration(filename: str) -> ModuleType:
    """An earlier revision's module, for the SQL of the views it defines."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"linecast_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
