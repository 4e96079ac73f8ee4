"""Initial schema: every table of the service.

series, observations, model_versions, training_runs, predictions, analysis_reports, api_keys.

Written from an autogenerate draft and reviewed by hand. The types are spelled out here rather
than imported from app.db.models, so this revision keeps creating the same schema whatever the
models become (app's UTCDateTime is a DateTime(timezone=True) in the database).

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
RUN_TO_VERSION_FK = "fk_training_runs_model_version_id_model_versions"


def _created_at(name: str = "created_at") -> sa.Column:
    return sa.Column(name, TIMESTAMP, server_default=sa.func.now(), nullable=False)


def _series_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["series_id"], ["series.id"], name=op.f(f"fk_{table}_series_id_series"), ondelete="CASCADE"
    )


def upgrade() -> None:
    # training_runs and model_versions reference each other. PostgreSQL needs the second
    # reference added once both tables exist; SQLite cannot add a constraint to a table, but
    # accepts a reference to a table created later, so there it goes inline.
    sqlite = op.get_context().dialect.name == "sqlite"

    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=50), nullable=True),
        sa.Column("frequency", sa.String(length=16), nullable=True),
        sa.Column("plant", sa.String(length=200), nullable=True),
        sa.Column("line", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        _created_at(),
        sa.Column("archived_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
        sa.UniqueConstraint("name", name=op.f("uq_series_name")),
    )
    op.create_table(
        "observations",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("ts", TIMESTAMP, nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        _created_at("ingested_at"),
        _series_fk("observations"),
        sa.PrimaryKeyConstraint("series_id", "ts", name=op.f("pk_observations")),
    )
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("warm_start", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("progress", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("config", JSON, nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _created_at(),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "\"status\" IN ('queued', 'running', 'succeeded', 'failed', 'rejected')",
            name=op.f("ck_training_runs_status_allowed"),
        ),
        sa.CheckConstraint(
            "\"trigger\" IN ('api', 'retrain', 'cli')",
            name=op.f("ck_training_runs_trigger_allowed"),
        ),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 1", name=op.f("ck_training_runs_progress_fraction")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_training_runs_attempts_non_negative")),
        _series_fk("training_runs"),
        *(
            [
                sa.ForeignKeyConstraint(
                    ["model_version_id"],
                    ["model_versions.id"],
                    name=op.f(RUN_TO_VERSION_FK),
                    ondelete="SET NULL",
                )
            ]
            if sqlite
            else []
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_runs")),
    )
    op.create_index(op.f("ix_training_runs_series_id"), "training_runs", ["series_id"])
    op.create_index(
        "ix_training_runs_one_open",
        "training_runs",
        ["series_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
        sqlite_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_index("ix_training_runs_status_created_at", "training_runs", ["status", "created_at"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("training_mode", sa.String(length=32), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("preprocessing", JSON, nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("backtest_error", sa.Float(), nullable=True),
        sa.Column("artifact", sa.LargeBinary(), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        _created_at(),
        sa.Column("promoted_at", TIMESTAMP, nullable=True),
        sa.Column("retired_at", TIMESTAMP, nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("training_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "\"status\" IN ('candidate', 'active', 'retired', 'rejected')",
            name=op.f("ck_model_versions_status_allowed"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_model_versions_version_positive")),
        _series_fk("model_versions"),
        sa.ForeignKeyConstraint(
            ["training_run_id"],
            ["training_runs.id"],
            name=op.f("fk_model_versions_training_run_id_training_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint(
            "series_id", "version", name=op.f("uq_model_versions_series_id_version")
        ),
    )
    op.create_index(
        "ix_model_versions_one_active",
        "model_versions",
        ["series_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    if not sqlite:
        op.create_foreign_key(
            op.f(RUN_TO_VERSION_FK),
            "training_runs",
            "model_versions",
            ["model_version_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "predictions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("origin", TIMESTAMP, nullable=False),
        sa.Column("ts", TIMESTAMP, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("median", sa.Float(), nullable=False),
        sa.Column("lower", sa.Float(), nullable=False),
        sa.Column("upper", sa.Float(), nullable=False),
        sa.Column("quantiles", JSON, nullable=False),
        _created_at(),
        sa.CheckConstraint("step >= 1", name=op.f("ck_predictions_step_positive")),
        sa.CheckConstraint(
            "lower <= median AND median <= upper", name=op.f("ck_predictions_interval_ordered")
        ),
        _series_fk("predictions"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_predictions_model_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
        sa.UniqueConstraint("request_id", "step", name=op.f("uq_predictions_request_id_step")),
    )
    op.create_index("ix_predictions_series_id_ts", "predictions", ["series_id", "ts"])
    op.create_table(
        "analysis_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        _created_at(),
        sa.Column("window_start", TIMESTAMP, nullable=False),
        sa.Column("window_end", TIMESTAMP, nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.CheckConstraint(
            "window_start <= window_end", name=op.f("ck_analysis_reports_window_ordered")
        ),
        _series_fk("analysis_reports"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_reports")),
    )
    op.create_index(op.f("ix_analysis_reports_series_id"), "analysis_reports", ["series_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _created_at(),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "\"role\" IN ('read', 'write', 'admin')", name=op.f("ck_api_keys_role_allowed")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_api_keys_name")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_prefix"), "api_keys", ["prefix"])


def downgrade() -> None:
    # Dropping a table drops its indexes. The cycle is broken first where the database would
    # refuse to drop a referenced table (SQLite checks references only row by row).
    if op.get_context().dialect.name != "sqlite":
        op.drop_constraint(op.f(RUN_TO_VERSION_FK), "training_runs", type_="foreignkey")
    for table in (
        "api_keys",
        "analysis_reports",
        "predictions",
        "model_versions",
        "training_runs",
        "observations",
        "series",
    ):
        op.drop_table(table)
