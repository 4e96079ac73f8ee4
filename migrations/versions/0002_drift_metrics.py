"""Drift metrics: the drift monitor's judgement of each series, model version and window.

One row per (series, model version, kind, metric, window); the unique key makes a re-run over
the same window an upsert. Types are spelled out here, as in 0001, so this revision keeps
creating the same table whatever the models become.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "drift_metrics",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("computed_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("window_start", TIMESTAMP, nullable=False),
        sa.Column("window_end", TIMESTAMP, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("warn_threshold", sa.Float(), nullable=True),
        sa.Column("alert_threshold", sa.Float(), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("training_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "\"kind\" IN ('performance', 'data', 'stationarity', 'prediction')",
            name=op.f("ck_drift_metrics_kind_allowed"),
        ),
        sa.CheckConstraint(
            "\"direction\" IN ('above', 'below')", name=op.f("ck_drift_metrics_direction_allowed")
        ),
        sa.CheckConstraint(
            "\"status\" IN ('ok', 'warn', 'alert', 'unknown')",
            name=op.f("ck_drift_metrics_status_allowed"),
        ),
        sa.CheckConstraint(
            "window_start <= window_end", name=op.f("ck_drift_metrics_window_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["series.id"],
            name=op.f("fk_drift_metrics_series_id_series"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_drift_metrics_model_version_id_model_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["training_run_id"],
            ["training_runs.id"],
            name=op.f("fk_drift_metrics_training_run_id_training_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_metrics")),
        sa.UniqueConstraint(
            "series_id",
            "model_version_id",
            "kind",
            "metric",
            "window_start",
            "window_end",
            name="uq_drift_metrics_window",
        ),
    )
    op.create_index(
        "ix_drift_metrics_series_id_computed_at", "drift_metrics", ["series_id", "computed_at"]
    )


def downgrade() -> None:
    # Dropping the table drops its index.
    op.drop_table("drift_metrics")
