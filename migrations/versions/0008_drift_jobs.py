"""Drift jobs: `POST /v1/drift/run` queues one job per series instead of judging them all.

`drift_jobs` holds one row per series to judge, grouped by the request's `batch_id`, with at
most one queued row per series (a partial unique index, so asking twice before the workers get
there queues nothing more). A new table needs no change to the dashboard views of 0003.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    op.create_table(
        "drift_jobs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("window_end", TIMESTAMP, nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("metrics", sa.Integer(), nullable=True),
        sa.Column("worst", sa.String(length=8), nullable=True),
        sa.Column("alerting", JSON, nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("training_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "\"status\" IN ('queued', 'running', 'done', 'skipped', 'failed')",
            name=op.f("ck_drift_jobs_status_allowed"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_drift_jobs_attempts_non_negative")),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["series.id"],
            name=op.f("fk_drift_jobs_series_id_series"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["training_run_id"],
            ["training_runs.id"],
            name=op.f("fk_drift_jobs_training_run_id_training_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_jobs")),
    )
    op.create_index(
        "ix_drift_jobs_one_queued",
        "drift_jobs",
        ["series_id"],
        unique=True,
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    op.create_index("ix_drift_jobs_status_id", "drift_jobs", ["status", "id"])
    op.create_index("ix_drift_jobs_batch_id", "drift_jobs", ["batch_id"])
    op.create_index("ix_drift_jobs_created_at", "drift_jobs", ["created_at"])


def downgrade() -> None:
    op.drop_table("drift_jobs")
